import { describe } from "vitest";
import { describeStore } from "../conformance/store-suite.js";
import { memoryHarness } from "../support/fixtures.js";

describe("store on memory backends", () => describeStore(memoryHarness));
