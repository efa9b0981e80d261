/**
 * A `FileSystem` seam (see src/fs-seam.ts) that records every call the store
 * makes and fails the chosen ones. File handles returned by `open` are
 * wrapped too, so their `read`, `write`, `sync`, `stat` and `close` count as
 * calls and can fail. Typical use: run an operation once with the seam armed
 * to enumerate its calls, then once per call index k with call k failing.
 */
import type { FileHandle } from "node:fs/promises";
import { nodeFileSystem, type FileSystem } from "../../src/index.js";

export type Errno = "ENOSPC" | "EIO" | "EACCES" | "EMFILE";
export const ERRNOS: readonly Errno[] = ["ENOSPC", "EIO", "EACCES", "EMFILE"];

export interface FsCall {
  /** `rename`, `unlink`, `handle.write`, … */
  op: string;
  /** The path the call names (the opened path for handle calls). */
  path: string;
}

export interface FaultPlan {
  /** Index (0-based, among armed calls) of the first call to fail. */
  at: number;
  errno: Errno;
  /** Fail every call from `at` on (a full disk), not only call `at`. */
  sticky?: boolean;
}

const HANDLE_METHODS = new Set(["read", "write", "sync", "datasync", "stat", "close", "truncate", "readFile", "writeFile", "chmod"]);

export function injectedError(errno: Errno, op: string, file: string): NodeJS.ErrnoException {
  const err = new Error(`${errno}: injected fault, ${op} '${file}'`) as NodeJS.ErrnoException;
  err.code = errno;
  err.syscall = op;
  err.path = file;
  err.errno = { ENOSPC: -28, EIO: -5, EACCES: -13, EMFILE: -24 }[errno];
  return err;
}

export class FaultyFileSystem {
  /** Calls made while armed, in order. */
  readonly calls: FsCall[] = [];
  /** Faults thrown so far. */
  injected = 0;
  private armed = false;
  private plan: FaultPlan | undefined;
  readonly fs: FileSystem;

  constructor(private readonly base: FileSystem = nodeFileSystem) {
    const wrapped: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(base)) {
      if (typeof fn !== "function") {
        wrapped[name] = fn;
        continue;
      }
      wrapped[name] = async (...args: unknown[]) => {
        const file = String(args[0]);
        this.before(name, file);
        const result = await (fn as (...a: unknown[]) => Promise<unknown>).apply(base, args);
        return name === "open" ? this.wrapHandle(result as FileHandle, file) : result;
      };
    }
    this.fs = wrapped as unknown as FileSystem;
  }

  /** Starts recording (and failing, if a plan is set). */
  arm(plan?: FaultPlan): void {
    this.calls.length = 0;
    this.plan = plan;
    this.armed = true;
  }

  /** Stops recording and failing. */
  disarm(): void {
    this.armed = false;
    this.plan = undefined;
  }

  /** Records the call; throws the injected fault if the plan says so. */
  private before(op: string, file: string): void {
    if (!this.armed) return;
    const index = this.calls.length;
    this.calls.push({ op, path: file });
    const plan = this.plan;
    if (plan !== undefined && (index === plan.at || (plan.sticky === true && index > plan.at))) {
      this.injected++;
      throw injectedError(plan.errno, op, file);
    }
  }

  private wrapHandle(handle: FileHandle, file: string): FileHandle {
    return new Proxy(handle, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== "function") return value;
        if (typeof key === "string" && HANDLE_METHODS.has(key)) {
          return async (...args: unknown[]) => {
            try {
              this.before(`handle.${key}`, file);
            } catch (err) {
              // A failed close must not leak the descriptor in the test process.
              if (key === "close") await target.close().catch(() => undefined);
              throw err;
            }
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
  }
}
