/**
 * Wrapper clients for the S3 tests, built from SDK middleware (no patching):
 * a recorder of every command the store sends (s3rver cannot list multipart
 * uploads, so this is how a test checks each one was completed or aborted),
 * and a fault injector that sits inside the SDK's retry loop, so that the
 * client's own retries meet the faults as they would meet S3's.
 */
import { Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";

export interface RecordedCall {
  command: string;
  input: Record<string, unknown>;
  ok: boolean;
  output?: Record<string, unknown>;
  error?: unknown;
}

export interface Recorder {
  readonly calls: RecordedCall[];
  /** Successful calls of `command` (e.g. "UploadPart"). */
  ok(command: string): RecordedCall[];
  /** Multipart uploads started and neither completed nor aborted (by a successful call). */
  unfinishedUploads(): string[];
  startedUploads(): string[];
}

/** Records every command `client` sends, with its input and outcome (after the SDK's retries). */
export function recordCommands(client: S3Client): Recorder {
  const calls: RecordedCall[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName).replace(/Command$/, "");
      const input = args.input as Record<string, unknown>;
      try {
        const result = await next(args);
        calls.push({ command, input, ok: true, output: result.output as unknown as Record<string, unknown> });
        return result;
      } catch (error) {
        calls.push({ command, input, ok: false, error });
        throw error;
      }
    },
    { step: "initialize", name: "attacheTestRecorder" },
  );
  const ok = (command: string) => calls.filter((call) => call.ok && call.command === command);
  const startedUploads = () => ok("CreateMultipartUpload").map((call) => String(call.output?.UploadId));
  return {
    calls,
    ok,
    startedUploads,
    unfinishedUploads() {
      const ended = new Set([...ok("CompleteMultipartUpload"), ...ok("AbortMultipartUpload")].map((call) => String(call.input.UploadId)));
      return startedUploads().filter((id) => !ended.has(id));
    },
  };
}

/**
 * What one attempt of a request meets: an HTTP error S3 sends ("InternalError"
 * 500, "SlowDown" 503…), a connection dropped before the server saw the
 * request ("reset-before") or after it handled it, the answer lost
 * ("reset-after"), or an answer made up whole (`respond`: status and XML body).
 */
export type Fault = { status: number; code: string } | { respond: number; body: string } | "reset-before" | "reset-after";

export const INTERNAL_ERROR: Fault = { status: 500, code: "InternalError" };
export const SLOW_DOWN: Fault = { status: 503, code: "SlowDown" };

/** Decides each attempt's fate: `command` without "Command", `attempt` from 1. May wait (a gate). */
export type FaultPlan = (command: string, attempt: number, input: Record<string, unknown>) => Fault | undefined | Promise<Fault | undefined>;

/**
 * Injects faults into every attempt `client` makes, inside the SDK's retry
 * loop (after the deserializer: an injected status is parsed into the
 * service error S3 would give, and retried as such). `plan` may be swapped.
 */
export interface FaultInjector {
  setPlan(plan: FaultPlan): void;
  /** Every fault injected, in order. */
  readonly injected: { command: string; fault: Fault }[];
  /** The most attempts of `command` that were at the server at once. */
  maxConcurrent(command: string): number;
}

export function injectFaults(client: S3Client, initial: FaultPlan = () => undefined): FaultInjector {
  let plan = initial;
  const attempts = new WeakMap<object, number>();
  const injected: { command: string; fault: Fault }[] = [];
  const active = new Map<string, { now: number; max: number }>();
  const sent = async <T>(command: string, send: () => Promise<T>): Promise<T> => {
    const count = active.get(command) ?? { now: 0, max: 0 };
    active.set(command, count);
    count.max = Math.max(count.max, ++count.now);
    try {
      return await send();
    } finally {
      count.now--;
    }
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName).replace(/Command$/, "");
      const attempt = (attempts.get(context) ?? 0) + 1;
      attempts.set(context, attempt);
      const fault = await plan(command, attempt, args.input as Record<string, unknown>);
      if (fault === undefined) return sent(command, () => next(args));
      injected.push({ command, fault });
      if (typeof fault === "object" && "respond" in fault) {
        return {
          response: { statusCode: fault.respond, headers: { "content-type": "application/xml" }, body: Readable.from([Buffer.from(fault.body)]) },
          output: undefined as never,
        };
      }
      if (fault === "reset-before") throw connectionReset();
      if (fault === "reset-after") {
        const result = await next(args);
        ((result.response as { body?: Readable }).body)?.destroy?.();
        throw connectionReset();
      }
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>injected ${fault.code}</Message><RequestId>test</RequestId></Error>`;
      return {
        response: { statusCode: fault.status, reason: fault.code, headers: { "content-type": "application/xml" }, body: Readable.from([Buffer.from(body)]) },
        output: undefined as never,
      };
    },
    { step: "deserialize", priority: "low", name: "attacheTestFaults" },
  );
  return { setPlan: (next) => void (plan = next), injected, maxConcurrent: (command) => active.get(command)?.max ?? 0 };
}

function connectionReset(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error("socket hang up (injected)");
  err.code = "ECONNRESET";
  return err;
}

/** A gate requests can wait at: `wait()` resolves once `open()` is called; `waiting` counts those at it now. */
export class Gate {
  waiting = 0;
  private opened!: () => void;
  private readonly openedPromise = new Promise<void>((resolve) => (this.opened = resolve));
  async wait(): Promise<void> {
    this.waiting++;
    await this.openedPromise;
    this.waiting--;
  }
  open(): void {
    this.opened();
  }
}
