// One agent turn with Anthropic's Messages API and its Files API (beta): a
// user sends a photo and a PDF; the agent stages both, renders them as
// content blocks (the photo inline as base64, the PDF as a file source:
// uploaded to the Files API once, then remembered in the store's ledger) and
// asks the model about them.
//
//   ANTHROPIC_API_KEY=sk-ant-… node examples/anthropic-turn.mjs [photo.jpg] [document.pdf]
//
// Without files it makes a small PNG and a one-page PDF. The SDK reads
// ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL (a compatible server, such as the
// fake the tests start); ANTHROPIC_MODEL picks the model. The store is
// ./.attache, or $ATTACHE_DIR: run it twice and the second run uploads nothing.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import { openStore } from "attache-store";
import { ANTHROPIC_FILES_BETA, anthropicFiles } from "attache-store/anthropic";

if (!process.env.ANTHROPIC_API_KEY && !process.env.ANTHROPIC_BASE_URL) {
  console.error("Set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for a server other than api.anthropic.com).");
  process.exit(2);
}
const model = process.env.ANTHROPIC_MODEL ?? "claude-sonnet-4-6";
const client = new Anthropic({ apiKey: process.env.ANTHROPIC_API_KEY || "none" }); // a local server may need no key
// Anthropic deletes the files after a day; the ledger knows when.
const files = anthropicFiles({ client, expiresAfter: "1d" });

const samples = process.argv.length > 2 ? null : await writeSamples();
const [photoPath, pdfPath] = samples ?? process.argv.slice(2);
const store = await openStore();
try {
  const chat = store.scope("example:anthropic-turn");
  // What the user sent, staged for the length of the conversation.
  const photo = await chat.stage(photoPath, { ttl: "1h", source: "user" });
  const pdf = await chat.stage(pdfPath, { ttl: "1h", source: "user" });
  console.log(`staged ${photo.name} (${photo.contentType}, ${photo.size} bytes) and ${pdf.name} (${pdf.contentType}, ${pdf.size} bytes)`);

  // One content block each, exactly as the Messages API takes them. The photo
  // fits inline; the PDF goes by file id (via "file"): uploaded on the first
  // render, then reused from the ledger without a request.
  const photoBlock = await chat.render(photo.ref, "anthropic", { destination: files });
  const pdfBlock = await chat.render(pdf.ref, "anthropic", { destination: files, via: "file" });
  console.log(`photo block: ${photoBlock.type}, ${photoBlock.source.type === "file" ? `file ${photoBlock.source.file_id}` : "base64"}`);
  console.log(`pdf block: ${pdfBlock.type}, ${pdfBlock.source.type === "file" ? `file ${pdfBlock.source.file_id}` : pdfBlock.source.type}`);

  // File sources need the Files API beta on the request too.
  const message = await client.beta.messages.create({
    model,
    max_tokens: 512,
    betas: [ANTHROPIC_FILES_BETA],
    messages: [
      {
        role: "user",
        content: [photoBlock, pdfBlock, { type: "text", text: "What is in the photo, and what does the document say? Answer in two short sentences." }],
      },
    ],
  });
  const text = message.content.filter((block) => block.type === "text").map((block) => block.text).join("");
  console.log(`model: ${text}`);

  // The next turn that needs the PDF finds it in the ledger: no bytes are sent.
  const again = await chat.upload(pdf.ref, files);
  console.log(`next turn: ${again.remoteId} ${again.reused ? "reused from the ledger, nothing sent" : "uploaded again"}`);
} finally {
  await store.close();
  if (samples) await fs.rm(path.dirname(samples[0]), { recursive: true, force: true });
}

/** A 32×32 PNG of a red disk and a one-page PDF, in a temp directory. */
async function writeSamples() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "attache-example-"));
  const png = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAMAAABEpIrGAAAABlBMVEX////cHh7/Hx2WAAAAQUlEQVR42tXSsQ0AIAwDwfz+SyOlx18gEXCbq2JXvRY6+bo3kAVkAVlAFiDiGICIL8CFR3lZXrcPxifno/XZj2UBoE0BwVFqm+IAAAAASUVORK5CYII=",
    "base64",
  );
  const files = [path.join(dir, "photo.png"), path.join(dir, "invoice.pdf")];
  await fs.writeFile(files[0], png);
  await fs.writeFile(files[1], onePagePdf("Invoice 2026-117: 3 hours of consulting, total 450.00 EUR, due 30 days."));
  return files;
}

/** A minimal valid PDF with one line of Helvetica text. */
function onePagePdf(text) {
  const content = `BT /F1 14 Tf 36 60 Td (${text.replace(/[()\\]/g, "\\$&")}) Tj ET`;
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 120] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let pdf = "%PDF-1.4\n";
  const offsets = objects.map((body, i) => {
    const at = pdf.length;
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return at;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((at) => `${String(at).padStart(10, "0")} 00000 n \n`).join("")}`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, "latin1");
}
