import { writeFile } from "node:fs/promises";
import {
  defaultGridExperiment,
  formatGridReport,
  formatGridStatus,
  formatPlanTable,
  type GridJobExecutor,
  gridReport,
  gridStatus,
  mlflowResultFinder,
  planGrid,
  readPlan,
  redactRedisUrl,
  redactSecrets,
  redisConnectionOptions,
  resolveRedisUrl,
  startGridWorker,
  submitPlan,
  trackedExecutor,
} from "@medfm/grid";
import { type BackendName, backendNames } from "@medfm/models";
import { type Command, InvalidArgumentError, Option } from "commander";
import { fewShotExecutor, fewShotJobOptions } from "../grid/fewshot-executor";
import { trainExecutor, trainJobOptions, trainMethod } from "../grid/train-executor";
import { integerOption } from "../parse-number";
import { renderGridReport } from "../report/render-grid-report";
import { parseIntegerList } from "./fewshot";

/** Parses `a,b,c` into a list of non-empty names. */
function parseNames(value: string): string[] {
  const names = value
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  if (names.length === 0) throw new InvalidArgumentError(`expected names like a,b, got ${value}`);
  return names;
}

/** Parses `0,1,2` (or ranges like `0-4`) into non-negative integers, for seeds. */
export function parseSeedList(value: string): number[] {
  const seeds = new Set<number>();
  for (const part of value.split(",")) {
    const range = part.trim().match(/^(\d+)(?:-(\d+))?$/);
    if (!range) throw new InvalidArgumentError(`expected seeds like 0,1 or 0-4, got ${value}`);
    const [low, high] = [Number(range[1]), Number(range[2] ?? range[1])];
    if (high < low) throw new InvalidArgumentError(`bad range ${part} in ${value}`);
    for (let seed = low; seed <= high; seed += 1) seeds.add(seed);
  }
  return [...seeds].sort((a, b) => a - b);
}

/** Collects repeated `--set key=v1,v2` into `{ key: [v1, v2] }`, numbers as numbers. */
export function collectSetting(
  value: string,
  previous: Record<string, (string | number)[]>,
): Record<string, (string | number)[]> {
  const match = value.match(/^([^=]+)=(.+)$/);
  if (!match) throw new InvalidArgumentError(`expected key=v1,v2, got ${JSON.stringify(value)}`);
  const values = match[2].split(",").map((item) => {
    const number = Number(item);
    return item.trim() !== "" && Number.isFinite(number) ? number : item;
  });
  return { ...previous, [match[1].trim()]: values };
}

/** The redis option every grid command shares; its value is never printed. */
const redisOption = () =>
  new Option(
    "--redis <url>",
    "redis[s]://[user:password@]host:port[/db] (default: MEDFM_REDIS_URL, else redis://127.0.0.1:6379)",
  );

/** Runs a grid command, replacing the Redis password anywhere in an error's message. */
async function redacted(url: string | undefined, action: () => Promise<void>): Promise<void> {
  const resolved = resolveRedisUrl({ url });
  try {
    await action();
  } catch (error) {
    const message = redactSecrets(error instanceof Error ? error.message : String(error), resolved);
    throw new Error(`grid (Redis ${redactRedisUrl(resolved)}): ${message}`);
  }
}

/** Registers `medfm grid plan|submit|worker|status|report`. */
export function registerGridCommand(program: Command): void {
  const grid = program
    .command("grid")
    .description(
      "Experiment grids on BullMQ/Redis: plan jobs, submit them, run workers on any machine, follow and report",
    );

  grid
    .command("plan")
    .description("Expand a grid into jobs with deterministic ids; print them as a table (and JSON)")
    .requiredOption("--task <list>", "tasks: chest,colon,endo", parseNames)
    .option("--shots <list>", "shot counts", parseIntegerList, [1, 5, 10])
    .option("--exps <list>", "experiments", parseIntegerList, [1, 2, 3, 4, 5])
    .option(
      "--method <list>",
      "adaptation methods of medfm fewshot, or train (medfm train on the K-shot file)",
      parseNames,
      ["linear-probe"],
    )
    .option("--seeds <list>", "seeds", parseSeedList, [0])
    .option(
      "--set <key=values>",
      "sweep a setting (repeatable): few-shot lr, weight-decay, probe-c; train lr, optimizer, backbone, head; or the job fields epochs, batch-size, image-size",
      collectSetting,
      {},
    )
    .option("--data-root <dir>", "folder the annotation names are relative to (omit: synthetic)")
    .option("--anns <dir>", "folder with {task}_{K}-shot_{train|val}_exp{E}.txt files")
    .option("--test-ann <file>", "evaluate on this list instead of each experiment's val file")
    .option("--weights <path>", "pretrained .safetensors or a saved classifier folder")
    .option("--image-size <n>", "input size", integerOption({ min: 1 }), 64)
    .option("--batch-size <n>", "batch size", integerOption({ min: 1 }), 8)
    .option("--epochs <n>", "epochs", integerOption({ min: 1 }), 10)
    .option("--output <file>", "write the plan as JSON here (what grid submit reads)")
    .option("--json", "print the plan as JSON instead of the table")
    .action(async (options) => {
      const plan = planGrid({
        tasks: options.task,
        shots: options.shots,
        experiments: options.exps,
        methods: options.method,
        seeds: options.seeds,
        sets: options.set,
        dataRoot: options.dataRoot,
        anns: options.anns,
        testAnn: options.testAnn,
        weights: options.weights,
        imageSize: options.imageSize,
        batchSize: options.batchSize,
        epochs: options.epochs,
      });
      // A setting a job cannot take is refused now, not by the worker that takes the job.
      for (const job of plan.jobs) {
        try {
          if (job.config.method === trainMethod) trainJobOptions(job.config.settings);
          else fewShotJobOptions(job.config.method, job.config.settings);
        } catch (error) {
          throw new InvalidArgumentError(
            `--method ${job.config.method}: ${(error as Error).message.replace(/^invalid job configuration: /, "")}`,
          );
        }
      }
      const json = `${JSON.stringify(plan, null, 2)}\n`;
      if (options.output) await writeFile(options.output, json);
      if (options.json) console.log(json.trimEnd());
      else console.log(formatPlanTable(plan));
      if (options.output) console.log(`plan written to ${options.output}`);
    });

  grid
    .command("submit")
    .description("Enqueue a plan's jobs; resubmitting the same plan adds nothing")
    .argument("<plan>", "plan JSON written by medfm grid plan --output")
    .addOption(redisOption())
    .requiredOption("--queue <name>", "queue name")
    .option("--attempts <n>", "tries per job before it fails", integerOption({ min: 1 }), 3)
    .action(async (planFile: string, options) => {
      await redacted(options.redis, async () => {
        const plan = await readPlan(planFile);
        const result = await submitPlan({
          connection: redisConnectionOptions({ url: options.redis }),
          queue: options.queue,
          plan,
          attempts: options.attempts,
        });
        console.log(
          `${result.added.length} jobs added to ${options.queue}, ${result.existing.length} already there`,
        );
      });
    });

  grid
    .command("worker")
    .description(
      "Take jobs and run them as medfm fewshot (or medfm train, method train) does; results to MLflow (MEDFM_TRACK_URI) tagged with the job id",
    )
    .addOption(redisOption())
    .requiredOption("--queue <name>", "queue name")
    .option("--concurrency <n>", "jobs at once", integerOption({ min: 1 }), 1)
    .option("--experiment <name>", "MLflow experiment", defaultGridExperiment)
    .option("--drain", "exit once no job is waiting, delayed or running")
    .option(
      "--lock-ms <n>",
      "job lock; a lost worker's job runs again after it",
      integerOption({ min: 1 }),
      30_000,
    )
    .addOption(new Option("--backend <name>", "tfjs backend").choices([...backendNames]))
    .action(async (options) => {
      await redacted(options.redis, async () => {
        const connection = redisConnectionOptions({ url: options.redis });
        const tracking = { experiment: options.experiment };
        const backend = options.backend as BackendName | undefined;
        const fewShot = fewShotExecutor({ backend });
        const train = trainExecutor({ backend });
        const execute: GridJobExecutor = (config, context) =>
          (config.method === trainMethod ? train : fewShot)(config, context);
        const tracked = Boolean(process.env.MEDFM_TRACK_URI);
        if (!tracked)
          console.warn(
            "MEDFM_TRACK_URI is not set: results stay in Redis only, and finished jobs are not looked up in MLflow",
          );
        const url = resolveRedisUrl({ url: options.redis });
        const worker = startGridWorker({
          connection,
          queue: options.queue,
          concurrency: options.concurrency,
          lockDurationMs: options.lockMs,
          stalledIntervalMs: Math.min(30_000, options.lockMs),
          execute: tracked ? trackedExecutor(execute, tracking) : execute,
          findResult: tracked ? mlflowResultFinder(tracking) : undefined,
        });
        worker.on("error", (error) => console.error(redactSecrets(error.message, url)));
        worker.on("failed", (job, error) =>
          console.error(`${job?.id ?? "?"} failed: ${redactSecrets(error.message, url)}`),
        );
        await worker.waitUntilReady();
        console.log(`worker on ${options.queue} (Redis ${redactRedisUrl(url)})`);
        if (!options.drain) {
          await new Promise<void>((resolve) => {
            for (const signal of ["SIGINT", "SIGTERM"] as const)
              process.once(signal, () => worker.close().then(resolve));
          });
          return;
        }
        try {
          for (;;) {
            const { counts } = await gridStatus({ connection, queue: options.queue });
            if (counts.waiting + counts.active + counts.delayed === 0) break;
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        } finally {
          await worker.close();
        }
      });
    });

  grid
    .command("status")
    .description("Progress per task, shot and method, and the failed jobs with their errors")
    .addOption(redisOption())
    .requiredOption("--queue <name>", "queue name")
    .option("--json", "print JSON")
    .action(async (options) => {
      await redacted(options.redis, async () => {
        const status = await gridStatus({
          connection: redisConnectionOptions({ url: options.redis }),
          queue: options.queue,
        });
        if (options.json) {
          const { results: _results, ...rest } = status;
          console.log(JSON.stringify(rest, null, 2));
        } else console.log(formatGridStatus(status));
      });
    });

  grid
    .command("report")
    .description(
      "The MedFM results table of the finished jobs: mean ± std per shot, challenge score",
    )
    .addOption(redisOption())
    .requiredOption("--queue <name>", "queue name")
    .option("--json", "print JSON")
    .option("--html <file>", "also write the table as a self-contained HTML file")
    .action(async (options) => {
      await redacted(options.redis, async () => {
        const status = await gridStatus({
          connection: redisConnectionOptions({ url: options.redis }),
          queue: options.queue,
        });
        const report = gridReport(status.results);
        const text = formatGridReport(report);
        if (options.json) console.log(JSON.stringify(report, null, 2));
        else console.log(text);
        if (options.html)
          await writeFile(options.html, renderGridReport(report, `MedFM grid ${options.queue}`));
      });
    });
}
