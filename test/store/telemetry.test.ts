/** The diagnostics_channel telemetry, observed by subscribing as a user would. */
import diagnostics_channel from "node:diagnostics_channel";
import fs from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { embeddedHarness, onCleanup, TestClock } from "../support/fixtures.js";

function record(name: string): unknown[] {
  const messages: unknown[] = [];
  const listener = (message: unknown) => messages.push(message);
  diagnostics_channel.subscribe(name, listener);
  onCleanup(() => void diagnostics_channel.unsubscribe(name, listener));
  return messages;
}

function recordTrace(name: string): { event: string; context: Record<string, unknown> }[] {
  const events: { event: string; context: Record<string, unknown> }[] = [];
  const handlers = Object.fromEntries(
    ["start", "end", "asyncStart", "asyncEnd", "error"].map((event) => [
      event,
      (context: Record<string, unknown>) => events.push({ event, context }),
    ]),
  );
  const channel = diagnostics_channel.tracingChannel(name);
  channel.subscribe(handlers as never);
  onCleanup(() => void channel.unsubscribe(handlers as never));
  return events;
}

it("publishes staged, released, expired, blob-deleted and orphan-reclaimed events", async () => {
  const staged = record("attache:staged");
  const released = record("attache:released");
  const expired = record("attache:expired");
  const deleted = record("attache:blob-deleted");
  const orphans = record("attache:orphan-reclaimed");
  const clock = new TestClock(Date.now());
  const harness = embeddedHarness();
  const store = await harness.open({ clock: clock.now });

  const { created: _ca, deduplicated: _da, ...a } = await store.stage(Buffer.from("telemetry"), { scope: "a" });
  const { created: _cb, deduplicated: _db, ...b } = await store.stage(Buffer.from("telemetry"), { scope: "b", ttl: "1m" });
  expect(staged).toEqual([
    { attachment: a, deduplicated: false },
    { attachment: b, deduplicated: true },
  ]);
  await store.release(a.ref);
  expect(released).toEqual([{ attachment: a }]);
  expect(deleted).toEqual([]);

  const temp = path.join(harness.dir, "tmp", "left-behind.tmp");
  fs.writeFileSync(temp, "12345");
  clock.advance(20 * 60_000);
  const past = new Date(clock.time - 16 * 60_000);
  fs.utimesSync(temp, past, past);
  await store.sweep();
  expect(expired).toEqual([{ attachment: b }]);
  expect(deleted).toEqual([{ digest: a.digest, size: 9 }]);
  expect(orphans).toEqual([{ kind: "temp", path: temp, size: 5 }]);
});

it("traces stage, sweep and verify calls, including failures", async () => {
  const stage = recordTrace("attache:stage");
  const sweep = recordTrace("attache:sweep");
  const verify = recordTrace("attache:verify");
  const store = await embeddedHarness().open();
  const a = await store.stage(Buffer.from("traced"), { scope: "t" });
  expect(stage.map((e) => e.event)).toEqual(["start", "end", "asyncStart", "asyncEnd"]);
  expect(stage[0]?.context).toBe(stage[3]?.context);
  expect(stage[3]?.context).toMatchObject({ scope: "t", mode: "copy", result: a });
  stage.length = 0;
  await store.stage(Buffer.from("x"), { checksum: "0".repeat(64) }).catch(() => undefined);
  expect(stage.map((e) => e.event)).toEqual(["start", "end", "error", "asyncStart", "asyncEnd"]);
  expect(stage[2]?.context.error).toMatchObject({ code: "CHECKSUM_MISMATCH" });
  await store.sweep();
  expect(sweep.at(-1)?.context.result).toMatchObject({ expired: 0 });
  await store.verify({ repair: false });
  expect(verify.at(-1)?.context).toMatchObject({ repair: false, result: { blobsChecked: 1 } });
});
