/**
 * Progress on long work: a byte bar with rate and ETA, drawn on stderr with
 * cli-progress, only when stderr is a terminal (or ATTACHE_FORCE_TTY=1) and
 * never with --quiet. The counts come from the library's own `onProgress`
 * hooks (stage and verify), so they reflect bytes actually read and hashed.
 *
 * Ctrl-C (or SIGTERM) erases the bar the moment it arrives, so the message
 * that follows (`attache: ABORTED: Interrupted (Ctrl-C); …`) starts on a
 * clean line instead of after a frozen bar.
 */
import { clearLine, cursorTo, moveCursor } from "node:readline";
import cliProgress from "cli-progress";
import { formatBytes, formatRate, formatSpan, truncate } from "./format.js";

/** Inputs smaller than this finish too fast for a bar to help. */
export const LARGE_INPUT_BYTES = 8 * 1024 * 1024;

/** The signals that end long work early; each erases the bar. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

const LABEL_WIDTH = 24;
const MAX_BAR_WIDTH = 30;

/**
 * Whether to draw progress. `ATTACHE_FORCE_TTY=1` draws it even when stderr
 * is not a terminal (for tests and for log capture), `ATTACHE_FORCE_TTY=0`
 * never draws it; otherwise it is drawn when stderr is a terminal.
 */
export function progressWanted(quiet: boolean | undefined): boolean {
  if (quiet === true) return false;
  const forced = process.env.ATTACHE_FORCE_TTY;
  if (forced === "1") return true;
  if (forced === "0") return false;
  return process.stderr.isTTY === true;
}

/** A progress display fed with running byte counts. */
export interface ByteProgress {
  /**
   * Records that `done` bytes are done so far (a running total, as the
   * library's hooks report it). A `total` given here replaces the one the
   * bar was made with; either way the total shown never falls below `done`.
   */
  update(done: number, total?: number | null): void;
  /**
   * Draws the final state and releases the terminal line; idempotent. After
   * a Ctrl-C or SIGTERM the bar is already erased, and this does nothing.
   */
  finish(): void;
}

/**
 * A bar for `label`. With a known total it shows percent, bytes, rate and
 * ETA; without one (a stream) it shows bytes and rate. The bar appears only
 * once `showAfterBytes` are done, so small inputs never flash one. The rate
 * counts from `startedAt`: when the work began, which may be before the bar
 * was made.
 */
export function byteProgress(label: string, initialTotal: number | null, showAfterBytes = 0, startedAt = Date.now()): ByteProgress {
  let done = 0;
  let total = initialTotal;
  let bar: cliProgress.SingleBar | undefined;
  let finished = false;
  /** Whether someone else handled each signal when the bar started (stage aborts; verify leaves the default). */
  const handledElsewhere = new Map<NodeJS.Signals, boolean>();

  const render = (_options: cliProgress.Options, params: cliProgress.Params): string => {
    const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001);
    const rate = done / seconds;
    const name = truncate(label, LABEL_WIDTH);
    // One column short of the terminal's width, so the line never wraps and \r redraws it in place.
    const room = (params.maxWidth ?? 80) - 1;
    if (total === null) return truncate(`${name}  ${formatBytes(done)}  ${formatRate(rate)}`, room);
    const percent = total === 0 ? 100 : Math.min(100, Math.floor((done / total) * 100));
    const remainingMs = rate > 0 ? ((total - done) / rate) * 1000 : Infinity;
    const eta = remainingMs < 1000 ? "0s" : Number.isFinite(remainingMs) ? formatSpan(remainingMs) : "--";
    const text = `${String(percent).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(total)}  ${formatRate(rate)}  ETA ${eta}`;
    const width = Math.min(MAX_BAR_WIDTH, room - name.length - text.length - 5);
    if (width < 5) return truncate(`${name}  ${text}`, room);
    const filled = Math.round((percent / 100) * width);
    return `${name}  [${"█".repeat(filled)}${"░".repeat(width - filled)}] ${text}`;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    unlisten();
    if (finished) return;
    finished = true;
    bar?.stop();
    // stop() leaves the last frame and a newline on a terminal: go back up and erase it. On a pipe each frame is a line already.
    if (process.stderr.isTTY === true) {
      moveCursor(process.stderr, 0, -1);
      cursorTo(process.stderr, 0);
      clearLine(process.stderr, 0);
    }
    // Nobody else listens (verify): end the way the signal would have ended the process without the bar.
    if (handledElsewhere.get(signal) === false) process.kill(process.pid, signal);
  };
  const unlisten = () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  };

  const start = () => {
    for (const signal of STOP_SIGNALS) {
      handledElsewhere.set(signal, process.listenerCount(signal) > 0);
      process.once(signal, onSignal);
    }
    bar = new cliProgress.SingleBar({
      stream: process.stderr,
      format: render,
      fps: 8,
      // Forced on a pipe, cli-progress writes one line per redraw instead of rewriting one line.
      noTTYOutput: true,
      notTTYSchedule: 1000,
      // On a pipe each frame already ends its line; "clearing" there only skips the extra blank line.
      clearOnComplete: process.stderr.isTTY !== true,
      // Leave terminal modes alone (cursor, line wrap): a process killed mid-bar must not leave them changed.
      hideCursor: false,
      linewrap: true,
      gracefulExit: false,
    });
    bar.start(total ?? 0, done);
  };

  return {
    update(bytes, newTotal) {
      if (finished) return;
      done = bytes;
      if (newTotal !== undefined) total = newTotal;
      // A total that proves short (verify also reads reference files) grows rather than show more than 100%.
      if (total !== null && total < done) total = done;
      if (bar === undefined && done >= showAfterBytes) start();
      else if (bar !== undefined && total !== null) bar.setTotal(total);
      bar?.update(done);
    },
    finish() {
      unlisten();
      if (finished) return;
      finished = true;
      bar?.update(done);
      bar?.stop();
    },
  };
}
