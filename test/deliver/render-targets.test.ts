import { describe, expect, it } from "vitest";
import { declaredTypeFor, essenceOf, mediaKindOf, RENDER_TARGETS } from "../../src/deliver/render-targets.js";

describe("mediaKindOf", () => {
  it.each([
    ["image/jpeg", "image"], ["image/png", "image"], ["image/gif", "image"], ["image/webp", "image"],
    ["application/pdf", "pdf"], ["Application/PDF", "pdf"],
    ["text/plain", "text"], ["text/plain; charset=utf-8", "text"], ["text/markdown", "text"], ["text/x-typescript", "text"],
    ["text/x-python", "text"], ["text/csv", "text"], ["application/json", "text"], ["application/xml", "text"],
    ["application/ld+json", "text"], ["application/atom+xml", "text"], ["image/svg+xml", "text"],
    ["application/x-ndjson", "text"], ["application/toml", "text"], ["application/sql", "text"],
  ])("%s is %s", (type, kind) => {
    expect(mediaKindOf(type)).toBe(kind);
  });

  it.each([["audio/mpeg"], ["video/mp4"], ["image/bmp"], ["image/heic"], ["application/zip"], ["application/octet-stream"], [""]])(
    "%j is nothing a target takes",
    (type) => {
      expect(mediaKindOf(type)).toBeNull();
    },
  );
});

describe("declaredTypeFor", () => {
  it("keeps images and PDFs, and text where the API reads any type", () => {
    expect(declaredTypeFor("gemini", "image/png")).toBe("image/png");
    expect(declaredTypeFor("ai-sdk", "application/pdf")).toBe("application/pdf");
    expect(declaredTypeFor("openai.responses", "text/x-typescript; charset=utf-8")).toBe("text/x-typescript");
    expect(declaredTypeFor("anthropic", "text/markdown")).toBe("text/markdown");
  });

  it("declares text/plain where the API takes a short list", () => {
    expect(declaredTypeFor("gemini", "text/x-rust")).toBe("text/plain");
    expect(declaredTypeFor("gemini", "application/json")).toBe("text/plain");
    expect(declaredTypeFor("gemini", "text/html")).toBe("text/html");
    expect(declaredTypeFor("gemini", "text/x-python")).toBe("text/x-python");
    expect(declaredTypeFor("ai-sdk", "text/markdown")).toBe("text/plain");
  });
});

describe("RENDER_TARGETS", () => {
  it("is frozen, and codex takes only images", () => {
    expect(Object.isFrozen(RENDER_TARGETS)).toBe(true);
    expect(Object.keys(RENDER_TARGETS.codex.kinds)).toStrictEqual(["image"]);
    expect(essenceOf(" Text/HTML ; charset=UTF-8")).toBe("text/html");
  });
});
