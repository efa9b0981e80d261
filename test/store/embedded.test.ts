import { describe } from "vitest";
import { describeStore } from "../conformance/store-suite.js";
import { embeddedHarness } from "../support/fixtures.js";

describe("store on the embedded default (filesystem + SQLite)", () => describeStore(embeddedHarness));
