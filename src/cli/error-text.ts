/**
 * The library's error messages, said in the CLI's terms. The library speaks
 * to programmers ("use persist: true", "run verify()", "contentType"), the
 * CLI to people at a shell (`--persist`, `attache verify`, `--type`): this is
 * the one place that translates between the two, so every command's errors
 * read the same way. The library's messages stay as they are; only what
 * `attache` prints changes.
 *
 * A phrase missing here is printed as the library wrote it: still correct,
 * only in library words. Add a row when a library message gains a new one.
 */
import type { AttacheError } from "../index.js";

/** What the CLI prints for a failure, and how it exits. */
export interface CliFailure {
  /** True for the caller's mistake (exit 2, `attache: USAGE: …`); false for a store failure (exit 1). */
  usage: boolean;
  /** The code printed after `attache:`: the error's own, or `USAGE`. */
  code: string;
  /** The message, in CLI words. */
  message: string;
}

interface Phrase {
  /** The library's wording. */
  library: RegExp;
  /** The CLI's wording, as for `String.prototype.replace`. */
  cli: string;
  /**
   * The message names a flag value the parser could not refuse on its own
   * (it depends on a limit the library checks), so it is the caller's
   * mistake: a usage error, exit 2, like any other bad flag.
   */
  usage?: true;
}

/** Library phrases → CLI phrases. Every matching row applies, in order. */
const PHRASES: readonly Phrase[] = [
  // --ttl 100000000d: the parser takes any duration, the library refuses one beyond any date.
  {
    library: /^ttl of (\d+) ms is beyond any date; use persist: true \(or Infinity\) for "never expires"\./,
    cli: '--ttl of $1 ms is beyond any date; use --persist (or --ttl Infinity) for "never expires".',
    usage: true,
  },
  // Option names: the library names its option fields, the CLI its flags.
  { library: /^contentType "/, cli: '--type "' },
  { library: /^checksum "/, cli: '--checksum "' },
  { library: /^metadata /, cli: "--metadata " },
  { library: /^source must be /, cli: "--source must be " },
  { library: /^after must be an attachment id, as found in attachment\.id;/, cli: "--after must be an attachment id, as printed by attache ls --json;" },
  // Library calls the hints name, as commands.
  { library: / Retry; if it persists, run verify\(\)\./, cli: " Retry; if it persists, run attache verify." },
  { library: /\(store\.verify\(\{ repair: true \}\) or `attache verify --repair`\)/, cli: "(attache verify --repair)" },
  { library: /, as returned by stage\(\)\./, cli: ", as printed by attache stage or attache ls." },
  { library: /larger than maxSize \((\d+) bytes\); nothing was kept\. Raise maxSize or stage a smaller file\./, cli: "larger than the store's limit of $1 bytes; nothing was kept. Stage a smaller file." },
  { library: /The store is closed\. Open it again with openStore\(\) before using it\./, cli: "The store was closed while the command ran; run it again." },
  // URL sources (attache stage https://…).
  { library: /set fetch\.allowPrivateNetwork/g, cli: "pass --allow-private-network" },
  { library: /raise fetch\.timeout(?:\.\w+)?/g, cli: "raise --fetch-timeout" },

  // Delivery (upload, render --to). A destination flag out of the provider's range: the factory names its option.
  { library: /^(?:openai|anthropic|gemini)Files: chunkSize /, cli: "--chunk-size ", usage: true },
  { library: /^(?:openai|anthropic|gemini)Files: concurrency /, cli: "--concurrency ", usage: true },
  { library: /^(?:openai|anthropic|gemini)Files: expiresAfter /, cli: "--expires-after ", usage: true },
  // UPLOAD_FAILED: an SDK message that ends in a period gains a second one from the sentence around it.
  { library: /\.\. (Retrying will not help|Try again later)/, cli: ". $1" },
  // UPLOAD_FAILED: the hints name the CLI's knobs.
  { library: /call upload\(\) again to get its result\./, cli: "run the same attache upload again to get its result." },
  {
    library: /check the request, the credential and the provider's limits\./,
    cli: "check the API key and base URL the SDK reads (attache upload --help lists the variables) and the provider's limits.",
  },
  // TOO_LARGE on upload.
  { library: /Lower the destination's maxSize or chunkSize\./, cli: "Upload a smaller file, or lower --chunk-size (openai, gemini)." },
  { library: /\(maxSize (\d+) bytes\); nothing was sent\./, cli: "(its limit, $1 bytes); nothing was sent." },
  // UNSUPPORTED and TOO_LARGE on render: `via` and `destination` are the flags --via and --to.
  { library: /use via "auto"\./, cli: "use --via auto." },
  { library: /use via "inline" or "auto"\./, cli: "use --via inline or --via auto." },
  { library: /use via "file" with a destination\./, cli: "use --via file with --to <provider>." },
  { library: /^via "file" needs a destination to upload to: pass \{ destination \}, or use via "auto"\./, cli: "--via file needs --to <provider> to upload to, or use --via auto.", usage: true },
  {
    library: /Render it by file id \(via "auto" or "file" with a destination\), or raise limits\.\w+ if your account allows more\./,
    cli: "Render it by file id: --via file (or auto) with --to <provider>.",
  },
  { library: /Pass a destination to render it by file id, or raise limits\.\w+ if your account allows more\./, cli: "Give --to <provider> to render it by file id." },
  { library: /shrink it, or raise limits\.\w+ if your account allows more\./, cli: "shrink it, or render it --for another target." },
  { library: /, or render it for another target\./, cli: ", or render it --for another target." },
];

/**
 * The CLI's words for an abort: the only signal the CLI aborts on is the
 * user's (Ctrl-C) or a SIGTERM. An abort that names a destination was an
 * upload, whose progress the ledger keeps: running the command again resumes it.
 */
function abortMessage(err: AttacheError): string | null {
  if (err.code !== "ABORTED") return null;
  const reason = err.cause instanceof Error ? err.cause.message : "";
  const signal = /\b(SIG[A-Z]+)\b/.exec(reason)?.[1];
  const outcome = err.destination === undefined ? "nothing was kept." : "the upload's progress is kept: run the same command again to resume it.";
  if (signal === "SIGINT") return `Interrupted (Ctrl-C); ${outcome}`;
  return signal === undefined ? `Interrupted; ${outcome}` : `Interrupted by ${signal}; ${outcome}`;
}

/**
 * The digests behind a mismatch, when the message does not show them yet:
 * `CHECKSUM_MISMATCH` says only that the bytes differ, and a person checking
 * a download wants both values side by side.
 */
function digestsSuffix(err: AttacheError): string {
  if (err.expected === undefined || err.actual === undefined) return "";
  if (err.message.includes(err.actual.replace(/^sha256:/, ""))) return "";
  return ` Expected ${err.expected}, got ${err.actual}.`;
}

/** How the CLI reports `err`: its message in CLI words, and whether it is a usage error. */
export function describeFailure(err: AttacheError): CliFailure {
  let message = abortMessage(err) ?? err.message;
  let usage = false;
  for (const phrase of PHRASES) {
    if (!phrase.library.test(message)) continue;
    message = message.replace(phrase.library, phrase.cli);
    if (phrase.usage === true) usage = true;
  }
  message += digestsSuffix(err);
  return { usage, code: usage ? "USAGE" : err.code, message };
}
