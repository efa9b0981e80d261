import { describe, expect, it } from "vitest";
import { Generations } from "../../src/generations.js";

describe("Generations", () => {
  it("keeps between half the limit and the limit of the latest entries", () => {
    const map = new Generations<number, string>(10);
    for (let i = 0; i < 1000; i++) {
      map.set(i, `v${i}`);
      expect(map.size).toBeLessThanOrEqual(10);
    }
    for (let i = 995; i < 1000; i++) expect(map.get(i)).toBe(`v${i}`);
    expect(map.get(0)).toBeUndefined();
    expect(map.size).toBeGreaterThanOrEqual(5);
  });

  it("keeps an entry set again while newer ones arrive; a read does not move it", () => {
    const map = new Generations<string, number>(4);
    map.set("kept", 1);
    for (let i = 0; i < 100; i++) {
      map.set(`other${i}`, i);
      map.set("kept", 1);
      expect(map.get("kept")).toBe(1);
    }
    map.set("read only", 2);
    map.set("one more", 3);
    expect(map.get("read only")).toBe(2); // among the latest half
    for (let i = 0; i < 4; i++) {
      map.set(`more${i}`, i);
      map.get("read only");
    }
    expect(map.get("read only")).toBeUndefined();
  });

  it("returns the latest value of a key set again, never the one it replaced", () => {
    const map = new Generations<string, number>(4);
    map.set("a", 1);
    map.set("b", 2); // turnover: a and b are old
    map.set("a", 3);
    expect(map.get("a")).toBe(3);
    map.set("c", 4); // turnover again: the old a is gone with its generation
    map.set("d", 5);
    expect(map.get("a")).toBe(3);
  });

  it("forgets deleted and cleared entries in both generations", () => {
    const map = new Generations<string, number>(4);
    map.set("a", 1);
    map.set("b", 2);
    map.set("c", 3);
    map.delete("a");
    map.delete("c");
    expect([map.get("a"), map.get("b"), map.get("c")]).toEqual([undefined, 2, undefined]);
    map.clear();
    expect(map.size).toBe(0);
    expect(map.get("b")).toBeUndefined();
  });
});
