/**
 * Metadata as people pass it: whatever `JSON.stringify` turns into a JSON
 * object is accepted and stored as that JSON (a Date as its ISO string,
 * undefined members dropped, toJSON honoured); what it cannot take is
 * INVALID_ARGUMENT with a message that says where and what to do.
 */
import { describe, expect, it } from "vitest";
import { validateMetadata } from "../../src/stage-options.js";
import { memoryHarness } from "../support/fixtures.js";

const when = new Date("2026-03-04T05:06:07.089Z");

class Point {
  constructor(
    public x = 1,
    public y = 2,
  ) {}
  get norm(): number {
    return Math.hypot(this.x, this.y);
  }
}

describe("metadata that JSON.stringify handles", () => {
  it.each<[string, unknown, unknown]>([
    ["a Date, as its ISO string", { sentAt: when }, { sentAt: "2026-03-04T05:06:07.089Z" }],
    ["Dates in arrays and nested objects", { at: [when], reply: { at: when } }, { at: ["2026-03-04T05:06:07.089Z"], reply: { at: "2026-03-04T05:06:07.089Z" } }],
    ["undefined members, dropped", { chatId: 42, threadId: undefined }, { chatId: 42 }],
    ["undefined in an array, as null", { list: [1, undefined, 3] }, { list: [1, null, 3] }],
    ["functions and symbols as members, dropped", { f: () => 1, s: Symbol("x"), kept: true }, { kept: true }],
    ["a nested toJSON, honoured", { user: { toJSON: () => "alice" } }, { user: "alice" }],
    ["a toJSON on the whole object, honoured", { secret: "x", toJSON: () => ({ shown: 1 }) }, { shown: 1 }],
    ["a class instance, as its own enumerable fields", new Point(3, 4), { x: 3, y: 4 }],
    ["a nested class instance", { p: new Point() }, { p: { x: 1, y: 2 } }],
    ["NaN and Infinity, as null", { a: Number.NaN, b: Infinity, c: -Infinity }, { a: null, b: null, c: null }],
    ["a Buffer, as its toJSON form", { b: Buffer.from("hi") }, { b: { type: "Buffer", data: [104, 105] } }],
    ["an object with a null prototype", Object.assign(Object.create(null) as object, { a: 1 }), { a: 1 }],
    ["the same object twice (not a cycle)", (() => { const shared = { n: 1 }; return { a: shared, b: [shared] }; })(), { a: { n: 1 }, b: [{ n: 1 }] }],
  ])("accepts %s", async (_what, metadata, stored) => {
    expect(validateMetadata(metadata)).toEqual(stored);
    // Through the public API too, and what is stored is what get() returns.
    const store = await memoryHarness().open();
    const a = await store.stage(Buffer.from("bytes"), { metadata: metadata as Record<string, unknown> });
    expect(a.metadata).toEqual(stored);
    expect((await store.get(a.ref)).metadata).toEqual(stored);
  });

  it("update() follows the same rule", async () => {
    const store = await memoryHarness().open();
    const a = await store.stage(Buffer.from("bytes"));
    const updated = await store.update(a.ref, { metadata: { editedAt: when, gone: undefined } });
    expect(updated.metadata).toEqual({ editedAt: "2026-03-04T05:06:07.089Z" });
  });
});

describe("metadata that JSON.stringify cannot take", () => {
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  const cycleThroughArray: Record<string, unknown> = { list: [] };
  (cycleThroughArray.list as unknown[]).push({ back: cycleThroughArray });

  it.each<[string, unknown, RegExp]>([
    ["a BigInt", { n: 10n }, /metadata\.n is a BigInt.*String\(/],
    ["a BigInt in an array", { list: [1, 2n] }, /metadata\.list\[1\] is a BigInt/],
    ["a cycle", cycle, /metadata\.self refers back to an object that contains it/],
    ["a cycle through an array", cycleThroughArray, /metadata\.list\[0\]\.back refers back/],
    ["a function at the top level", () => ({}), /metadata must be an object.*got a function/],
    ["an array at the top level", [1, 2], /metadata must be an object.*got an array/],
    ["a string at the top level", "metadata", /metadata must be an object.*got a string/],
    ["a number at the top level", 42, /metadata must be an object.*got a number/],
    ["null at the top level", null, /metadata must be an object.*got null/],
    ["a Date at the top level", when, /metadata must be an object.*got a string/],
    ["a toJSON that gives no object", { toJSON: () => 5 }, /metadata must be an object.*got a number/],
    ["a Map, whose entries JSON.stringify would drop", { m: new Map([[1, 2]]) }, /metadata\.m is a Map.*Object\.fromEntries/],
    ["a Set, whose values JSON.stringify would drop", { s: new Set([1]) }, /metadata\.s is a Set.*Array\.from/],
    ["more than 64 KiB", { big: "x".repeat(70 * 1024) }, /larger than 65536 bytes/],
  ])("refuses %s with INVALID_ARGUMENT", async (_what, metadata, message) => {
    expect(() => validateMetadata(metadata)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(message) }));
    const store = await memoryHarness().open();
    await expect(store.stage(Buffer.from("bytes"), { metadata: metadata as Record<string, unknown> })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("refuses a getter that throws, naming the cause", () => {
    const throwing = Object.defineProperty({}, "x", {
      enumerable: true,
      get() {
        throw new Error("getter exploded");
      },
    });
    expect(() => validateMetadata(throwing)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining("getter exploded") }));
  });
});
