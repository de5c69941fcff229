// A process that syncs run folders to a backend that records, in a shared file, every remote run
// it creates, for the sync lock tests (spawned with `node --import tsx`).
// Usage: sync-child.ts <record file> <go file> <run folder>...
// Waits until <go file> exists (so that several children start together), syncs every folder at
// once, then prints `DONE <synced> <busy>`: how many syncs ran and how many found the lock held.
import { appendFileSync, existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { TrackingBackend } from "../backends/tracking-backend";
import { SyncBusyError, syncRun } from "../sync-run";

const [record, go, ...folders] = process.argv.slice(2);
const backend: TrackingBackend = {
  name: "recording",
  uri: "memory://shared",
  maxBatchItems: 100,
  async createRun(info) {
    appendFileSync(record, `create ${info.runId} ${process.pid}\n`);
    // A server takes a while to answer: the window in which a second sync would create a run.
    await sleep(50);
    return { id: `remote-${process.pid}`, data: {} };
  },
  async logBatch() {},
  async uploadFile() {},
  async finishRun() {},
  async close() {},
};
console.log("READY");
while (!existsSync(go)) await sleep(1);
let synced = 0;
let busy = 0;
await Promise.all(
  folders.map(async (folder) => {
    try {
      await syncRun(folder, backend, { warn: () => {} });
      synced += 1;
    } catch (error) {
      if (!(error instanceof SyncBusyError)) throw error;
      busy += 1;
    }
  }),
);
console.log(`DONE ${synced} ${busy}`);
