import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BackendItem, RemoteRun, TrackingBackend } from "./backends/tracking-backend";
import { initRun } from "./init-run";
import { readSyncState, SyncBusyError, syncRun } from "./sync-run";
import { spawnLogger } from "./testing/spawn-logger";

/** A backend that records what it gets and can fail after a number of batches. */
function recordingBackend(failAfterBatches = Number.POSITIVE_INFINITY) {
  const items: BackendItem[] = [];
  let batches = 0;
  let finished = 0;
  let release: (() => void) | undefined;
  const backend: TrackingBackend & { gate?: Promise<void> } = {
    name: "recording",
    uri: "memory://",
    maxBatchItems: 100,
    async createRun(): Promise<RemoteRun> {
      return { id: "remote-1", data: {} };
    },
    async logBatch(_run, batch) {
      if (backend.gate) await backend.gate;
      if (batches >= failAfterBatches) throw new Error("server went away");
      batches += 1;
      items.push(...batch);
    },
    async uploadFile() {},
    async finishRun() {
      finished += 1;
    },
    async close() {},
  };
  return {
    backend,
    items,
    finished: () => finished,
    hold() {
      backend.gate = new Promise((resolve) => {
        release = resolve;
      });
    },
    release: () => release?.(),
  };
}

async function offlineRun(points: number): Promise<string> {
  const run = initRun({ root: mkdtempSync(join(tmpdir(), "medfm-sync-")), mode: "offline" });
  for (let step = 0; step < points; step += 1) run["train/loss"].append(step);
  await run.stop();
  return run.path as string;
}

describe("syncRun", () => {
  it("resumes from saved progress inside a long log line, sending each point once", async () => {
    const folder = await offlineRun(1050);
    const failing = recordingBackend(3);
    await expect(syncRun(folder, failing.backend)).rejects.toThrow(/server went away/);
    expect(readSyncState(folder)).toMatchObject({ itemsDone: expect.any(Number), finished: false });
    const second = recordingBackend();
    const result = await syncRun(folder, second.backend);
    expect(result.finished).toBe(true);
    const values = [...failing.items, ...second.items]
      .filter((item) => item.kind === "metric")
      .map((item) => (item as { value: number }).value);
    expect(values).toEqual(Array.from({ length: 1050 }, (_, index) => index));
    expect(second.finished()).toBe(1);
    expect((await syncRun(folder, second.backend)).itemsSent).toBe(0);
  });

  it("lets one sync of a folder run at a time, in this process and across processes", async () => {
    const folder = await offlineRun(10);
    const slow = recordingBackend();
    slow.hold();
    const first = syncRun(folder, slow.backend);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(syncRun(folder, recordingBackend().backend)).rejects.toThrow(SyncBusyError);
    slow.release();
    await first;
    // A lock left by a live process (here: pid 1) is respected; one of a dead process is taken.
    const other = await offlineRun(5);
    writeFileSync(join(other, "sync.lock"), "1");
    await expect(syncRun(other, recordingBackend().backend)).rejects.toThrow(
      /being synced by process 1/,
    );
    writeFileSync(join(other, "sync.lock"), "999999999");
    expect((await syncRun(other, recordingBackend().backend)).finished).toBe(true);
  });

  it("creates one remote run per local run when processes sync the same folders at once", async () => {
    const folders: string[] = [];
    for (let trial = 0; trial < 12; trial += 1) folders.push(await offlineRun(3));
    const scratch = mkdtempSync(join(tmpdir(), "medfm-sync-race-"));
    const record = join(scratch, "record.txt");
    const go = join(scratch, "go");
    writeFileSync(record, "");
    const children = Array.from({ length: 4 }, () =>
      spawnLogger([record, go, ...folders], "sync-child.ts"),
    );
    try {
      for (const child of children) await child.waitFor(/READY/);
      writeFileSync(go, "");
      for (const child of children) await child.waitFor(/DONE \d+ \d+/);
    } finally {
      for (const child of children) child.process.kill("SIGKILL");
    }
    const creates = readFileSync(record, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(" ")[1]);
    const perRun = new Map<string, number>();
    for (const runId of creates) perRun.set(runId, (perRun.get(runId) ?? 0) + 1);
    expect([...perRun.values()]).toEqual(folders.map(() => 1));
    for (const folder of folders) expect(readSyncState(folder)?.finished).toBe(true);
  });
});
