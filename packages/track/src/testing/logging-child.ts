// A process that logs points, for the crash and signal tests (spawned with `node --import tsx`).
// Usage: logging-child.ts <root> <uri|-> <total> <report-every> <wait:yes|no> <stop:yes|no>
//   [handle-sigint|take-over|take-over-exit]
// Prints `RUN <id> <path>`, then `LOGGED <n>` each time n points are appended (after `wait()`
// when asked, so that they are in the journal), then `DONE` when all are appended.
// handle-sigint: a SIGINT listener that stays registered; the loop logs a final value and stops.
// take-over: takeOverSignals(), and a listener that removes itself on the first SIGINT (as a
// "Ctrl-C again quits" handler does); the loop logs a final value and stops as killed.
// take-over-exit: takeOverSignals(), and a SIGINT listener that exits at once with the run open.
import { setImmediate as yieldToEvents } from "node:timers/promises";
import { mlflow } from "../backends/mlflow";
import { initRun } from "../init-run";
import { takeOverSignals } from "../run";

const [root, uri, totalText, everyText, waitText, stopText, handleText] = process.argv.slice(2);
let interrupted = false;
if (handleText === "handle-sigint") {
  // An application that finishes its step and logs a final value on Ctrl-C, like `medfm train`.
  process.on("SIGINT", () => {
    interrupted = true;
  });
} else if (handleText === "take-over") {
  takeOverSignals();
  const onInterrupt = () => {
    process.off("SIGINT", onInterrupt);
    interrupted = true;
  };
  process.on("SIGINT", onInterrupt);
} else if (handleText === "take-over-exit") {
  takeOverSignals();
  process.on("SIGINT", () => process.exit(130));
}
const total = Number(totalText);
const every = Number(everyText);
const run = initRun({
  root,
  project: "medfm-track-child",
  backend: uri === "-" ? "file" : mlflow({ uri, warn: () => {}, retryDelayMs: 50 }),
  warn: () => {},
});
console.log(`RUN ${run.id} ${run.path}`);
run["params/total"] = total;
for (let step = 0; step < total; step += 1) {
  if (interrupted) {
    run["train/interrupted_at"] = step;
    await run.stop({ status: handleText === "take-over" ? "killed" : "failed" });
    console.log("INTERRUPTED");
    process.exit(130);
  }
  run["train/loss"].append(1 / (step + 1));
  if ((step + 1) % every === 0) {
    if (waitText === "yes") await run.wait({ timeoutMs: 100 });
    console.log(`LOGGED ${step + 1}`);
    await yieldToEvents();
  }
}
console.log("DONE");
if (stopText === "yes") await run.stop();
