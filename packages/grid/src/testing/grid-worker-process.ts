/**
 * A grid worker as its own process, for tests that run several and kill one:
 * `tsx grid-worker-process.ts REDIS_URL QUEUE RESULTS_DIR`. It runs the synthetic executor
 * with short locks (a lost worker's job is stalled after about 2 s) and prints `ready` once
 * connected, and `active JOB_ID` when it takes a job.
 */
import { startGridWorker } from "../grid-worker";
import { redisConnectionOptions } from "../redis-connection";
import { syntheticExecutor } from "./synthetic-executor";

const [url, queue, resultsDir] = process.argv.slice(2);
const worker = startGridWorker({
  connection: redisConnectionOptions({ url, env: {} }),
  queue,
  execute: syntheticExecutor(resultsDir),
  lockDurationMs: 2000,
  stalledIntervalMs: 1000,
  maxStalledCount: 5,
  log: () => {},
});
worker.on("active", (job) => console.log(`active ${job.id}`));
worker.on("error", () => {
  // Redis restarting: ioredis reconnects by itself.
});
worker.waitUntilReady().then(() => console.log("ready"));
process.on("SIGTERM", () => {
  worker.close().then(() => process.exit(0));
});
