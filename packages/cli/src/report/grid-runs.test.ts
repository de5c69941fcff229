import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type GridJobResult,
  gridJobIdTag,
  gridReport,
  planGrid,
  trackedExecutor,
} from "@medfm/grid";
import { initRun, listRuns } from "@medfm/track";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fewShotExecutor } from "../grid/fewshot-executor";
import { runMedfmLines } from "../testing/run-medfm";
import { gridResultsFromRuns, readGridRuns } from "./grid-runs";

const workDir = mkdtempSync(join(tmpdir(), "medfm-grid-report-"));
const startDir = process.cwd();
const root = join(workDir, "runs");
const project = "grid-report-test";

/** Real few-shot jobs, tracked as `medfm grid worker` tracks them, journalled offline. */
const plan = planGrid({
  tasks: ["colon"],
  shots: [1, 5],
  experiments: [1, 2],
  methods: ["linear-probe"],
  seeds: [0],
  sets: { "probe-c": [1] },
  imageSize: 32,
  batchSize: 8,
  epochs: 1,
});
const computed: GridJobResult[] = [];

describe("medfm report of grid runs", () => {
  beforeAll(async () => {
    process.chdir(workDir);
    const execute = trackedExecutor(fewShotExecutor(), {
      experiment: project,
      root,
      mode: "offline",
      uri: "http://127.0.0.1:9",
    });
    for (const job of plan.jobs) {
      const outcome = await execute(job.config, {
        jobId: job.id,
        progress: async () => {},
        log: () => {},
      });
      computed.push({ jobId: job.id, config: job.config, ...outcome, reused: false, seconds: 0 });
    }
    // A worker killed mid-job leaves a running run with the job id: not a result.
    const lost = initRun({ project, root, mode: "offline", backend: "mlflow" });
    lost[gridJobIdTag] = plan.jobs[0].id;
    const { settings, version: _version, ...fields } = plan.jobs[0].config;
    lost.params = { ...fields, ...settings };
    lost["result/AUC"].append(0.123456);
    await lost.wait();
  }, 300_000);
  afterAll(() => process.chdir(startDir));

  it("rebuilds each finished job's configuration and result from its run, once per job", () => {
    const results = gridResultsFromRuns(readGridRuns(root, project));
    expect(listRuns(root)).toHaveLength(5);
    expect(results.map((result) => result.jobId).sort()).toEqual(
      plan.jobs.map((job) => job.id).sort(),
    );
    for (const result of results) {
      const expected = computed.find((entry) => entry.jobId === result.jobId)!;
      expect(result.config).toEqual(expected.config);
      expect(result.metrics).toEqual(expected.metrics);
    }
  });

  it("writes the grid's table (mean ± std per shot) and challenge score as HTML with --grid", async () => {
    const output = join(workDir, "grid.html");
    const lines = await runMedfmLines([
      "report",
      "--grid",
      "--root",
      root,
      "--project",
      project,
      "--output",
      output,
    ]);
    expect(lines).toEqual([`Grid report of 4 jobs written to ${output}`]);
    const html = readFileSync(output, "utf8");
    const report = gridReport(computed);
    expect(report.tables).toHaveLength(1);
    expect(html).toContain(`<h3>colon — ${report.tables[0].variant}</h3>`);
    for (const shot of report.tables[0].shots) {
      const auc = shot.cells.find((cell) => cell.metric === "AUC")!;
      expect(auc.count).toBe(2);
      expect(html).toContain(
        `<tr><td>${shot.shot}</td><td>${(auc.mean * 100).toFixed(2)} ± ${(auc.std * 100).toFixed(2)}</td>`,
      );
    }
    const score = report.scores[0].score!;
    expect(html).toContain(`<b>${(score.score * 100).toFixed(2)}</b> (${score.count} values)`);
    expect(html).not.toContain("12.35");
  });

  it("adds the grid's table to the report of one of its runs", async () => {
    const [first] = readGridRuns(root, project).filter((run) => run.status === "finished");
    const output = join(workDir, "run.html");
    await runMedfmLines(["report", first.path, "--output", output]);
    const html = readFileSync(output, "utf8");
    expect(html).toContain('<section id="grid"><h2>Grid results</h2>');
    expect(html).toContain(`<h3>colon — ${gridReport(computed).tables[0].variant}</h3>`);
  });
});
