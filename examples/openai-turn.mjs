// One agent turn with OpenAI's Responses API: a user sends a photo and a PDF;
// the agent stages both, renders them as input parts (the photo inline as a
// data URL, the PDF by file id: uploaded to the Files API once, then
// remembered in the store's ledger) and asks the model about them.
//
//   OPENAI_API_KEY=sk-… node examples/openai-turn.mjs [photo.jpg] [document.pdf]
//
// Without files it makes a small PNG and a one-page PDF. The SDK reads
// OPENAI_API_KEY and OPENAI_BASE_URL (a compatible server, such as the fake
// the tests start); OPENAI_MODEL picks the model. The store is ./.attache, or
// $ATTACHE_DIR: run it twice and the second run uploads nothing.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { openStore } from "attache-store";
import { openaiFiles } from "attache-store/openai";

if (!process.env.OPENAI_API_KEY && !process.env.OPENAI_BASE_URL) {
  console.error("Set OPENAI_API_KEY (and OPENAI_BASE_URL for a server other than api.openai.com).");
  process.exit(2);
}
const model = process.env.OPENAI_MODEL ?? "gpt-5.4-mini";
const client = new OpenAI({ apiKey: process.env.OPENAI_API_KEY || "none" }); // a local server may need no key
// Files for model input: purpose "user_data". OpenAI deletes them after a day; the ledger knows when.
const openai = openaiFiles({ client, purpose: "user_data", expiresAfter: "1d" });

const samples = process.argv.length > 2 ? null : await writeSamples();
const [photoPath, pdfPath] = samples ?? process.argv.slice(2);
const store = await openStore();
try {
  const chat = store.scope("example:openai-turn");
  // What the user sent, staged for the length of the conversation.
  const photo = await chat.stage(photoPath, { ttl: "1h", source: "user" });
  const pdf = await chat.stage(pdfPath, { ttl: "1h", source: "user" });
  console.log(`staged ${photo.name} (${photo.contentType}, ${photo.size} bytes) and ${pdf.name} (${pdf.contentType}, ${pdf.size} bytes)`);

  // One content part each, exactly as the Responses API takes them. The photo
  // fits inline; the PDF goes by file id (via "file"): uploaded on the first
  // render, then reused from the ledger without a request.
  const photoPart = await chat.render(photo.ref, "openai.responses", { destination: openai });
  const pdfPart = await chat.render(pdf.ref, "openai.responses", { destination: openai, via: "file" });
  console.log(`photo part: ${photoPart.type}, ${photoPart.image_url ? "inline data URL" : `file_id ${photoPart.file_id}`}`);
  console.log(`pdf part: ${pdfPart.type}, ${pdfPart.file_id ? `file_id ${pdfPart.file_id}` : "inline"}`);

  const response = await client.responses.create({
    model,
    input: [
      {
        role: "user",
        content: [{ type: "input_text", text: "What is in the photo, and what does the document say? Answer in two short sentences." }, photoPart, pdfPart],
      },
    ],
  });
  console.log(`model: ${response.output_text}`);

  // The next turn that needs the PDF finds it in the ledger: no bytes are sent.
  const again = await chat.upload(pdf.ref, openai);
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
