import { describeStore } from "../../src/testing/index.js";
import { embeddedSuiteHarness } from "../support/fixtures.js";

describeStore("embedded default (filesystem + SQLite)", { create: embeddedSuiteHarness });
