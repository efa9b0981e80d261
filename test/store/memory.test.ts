import { describeStore } from "../../src/testing/index.js";
import { memorySuiteHarness } from "../support/fixtures.js";

describeStore("memory backends", { create: memorySuiteHarness });
