// A process that opens a run for writing and holds it, for the one-writer tests (spawned with
// `node --import tsx`). Usage: writer-child.ts <root> <id|new>
// Prints `OPEN <id>` once the run is open and its first points are journaled, then keeps it open
// until killed; prints `BUSY <message>` and exits 3 when another process writes to the run.
import { initRun } from "../init-run";
import { RunBusyError } from "../track-error";

const [root, id] = process.argv.slice(2);
try {
  const run = initRun({ root, mode: "offline", warn: () => {}, ...(id === "new" ? {} : { id }) });
  run["train/loss"].extend([1, 2, 3]);
  await run.wait();
  console.log(`OPEN ${run.id}`);
  setInterval(() => {}, 1000);
} catch (error) {
  if (!(error instanceof RunBusyError)) throw error;
  console.log(`BUSY ${error.message}`);
  process.exit(3);
}
