import { describe, expect, it } from "vitest";
import { formatPlanTable } from "./format-plan";
import { GridJobConfigError, GridPlanError } from "./grid-error";
import { validateJobConfig } from "./job-config";
import { canonicalJson, jobIdOf } from "./job-id";
import { parsePlan, planGrid } from "./plan-grid";

const base = {
  tasks: ["chest", "colon", "endo"],
  shots: [1, 5, 10],
  experiments: [1, 2, 3, 4, 5],
  methods: ["linear-probe", "vpt"],
  seeds: [0, 1],
  imageSize: 32,
  batchSize: 4,
  epochs: 2,
};

describe("planGrid", () => {
  it("expands the MedFM grid into one job per combination, with distinct ids", () => {
    const plan = planGrid({ ...base, sets: { lr: [0.001, 0.01] } });
    expect(plan.jobs).toHaveLength(3 * 3 * 5 * 2 * 2 * 2);
    expect(new Set(plan.jobs.map((job) => job.id)).size).toBe(plan.jobs.length);
    const first = plan.jobs[0].config;
    expect(first).toMatchObject({ task: "chest", shot: 1, experiment: 1, method: "linear-probe" });
    expect(first.settings).toEqual({ lr: 0.001 });
  });

  it("gives the same ids on every planning, whatever the key order of the config", () => {
    const a = planGrid(base);
    const b = planGrid({ ...base });
    expect(b.jobs.map((job) => job.id)).toEqual(a.jobs.map((job) => job.id));
    const config = a.jobs[7].config;
    const reordered = Object.fromEntries(Object.entries(config).reverse()) as typeof config;
    expect(jobIdOf(reordered)).toBe(a.jobs[7].id);
    expect(canonicalJson({ b: 1, a: { d: 2, c: undefined } })).toBe('{"a":{"d":2},"b":1}');
  });

  it("changes the id when any part of the configuration changes", () => {
    const config = planGrid(base).jobs[0].config;
    const ids = new Set([
      jobIdOf(config),
      jobIdOf({ ...config, epochs: 3 }),
      jobIdOf({ ...config, seed: 1 }),
      jobIdOf({ ...config, settings: { lr: 0.1 } }),
      jobIdOf({ ...config, weights: "w.safetensors" }),
    ]);
    expect(ids.size).toBe(5);
  });

  it("sweeps the job fields epochs, batch-size and image-size with --set, and refuses keys a flag sweeps", () => {
    const plan = planGrid({
      ...base,
      tasks: ["colon"],
      shots: [1],
      experiments: [1],
      methods: ["finetune"],
      seeds: [0],
      sets: { epochs: [5, 10], "batch-size": [8], lr: [0.01] },
    });
    expect(plan.jobs.map((job) => [job.config.epochs, job.config.batchSize])).toEqual([
      [5, 8],
      [10, 8],
    ]);
    expect(plan.jobs.map((job) => job.config.settings)).toEqual([{ lr: 0.01 }, { lr: 0.01 }]);
    expect(() => planGrid({ ...base, sets: { shots: [1, 5] } })).toThrow(
      "--set shots: sweep it with --shots",
    );
    expect(() => planGrid({ ...base, sets: { epochs: [0] } })).toThrow(
      "--set epochs: expected positive integers, got 0",
    );
  });

  it("lists a repeated value once", () => {
    expect(
      planGrid({ ...base, tasks: ["chest", "chest"], shots: [1], methods: ["vpt"] }).jobs,
    ).toHaveLength(5 * 2);
  });

  it("rejects an unknown task, an empty list and a bad setting name, naming the flag", () => {
    expect(() => planGrid({ ...base, tasks: ["brain"] })).toThrow(GridPlanError);
    expect(() => planGrid({ ...base, tasks: ["brain"] })).toThrow(/--task brain/);
    expect(() => planGrid({ ...base, seeds: [] })).toThrow(/--seeds: no values/);
    expect(() => planGrid({ ...base, sets: { "1x": [1] } })).toThrow(/--set 1x/);
  });
});

describe("parsePlan", () => {
  it("reads back what planGrid wrote", () => {
    const plan = planGrid(base);
    expect(parsePlan(JSON.stringify(plan), "plan.json")).toEqual(plan);
  });

  it("rejects an edited configuration whose id no longer matches, naming the file and job", () => {
    const plan = planGrid(base);
    plan.jobs[3].config = { ...plan.jobs[3].config, epochs: 99 };
    expect(() => parsePlan(JSON.stringify(plan), "plan.json")).toThrow(
      /plan\.json: jobs\[3\] has id "g[0-9a-f]{24}" but its configuration hashes to/,
    );
    expect(() => parsePlan("{", "plan.json")).toThrow(/plan\.json: not JSON/);
    expect(() => parsePlan("[]", "plan.json")).toThrow(/expected a grid plan/);
  });
});

describe("validateJobConfig", () => {
  it("accepts a planned configuration and names the field of a broken one", () => {
    const config = planGrid(base).jobs[0].config;
    expect(validateJobConfig(config)).toEqual(config);
    expect(() => validateJobConfig({ ...config, shot: 0 })).toThrow(GridJobConfigError);
    expect(() => validateJobConfig({ ...config, shot: 0 })).toThrow(
      "invalid job configuration: shot: expected a positive integer, got 0",
    );
    expect(() => validateJobConfig({ ...config, task: "brain" })).toThrow(/task: expected one of/);
  });
});

describe("formatPlanTable", () => {
  it("prints one line per job and the count", () => {
    const plan = planGrid({ ...base, tasks: ["colon"], shots: [1], experiments: [1], seeds: [0] });
    const lines = formatPlanTable(plan).split("\n");
    expect(lines[0]).toMatch(/^id\s+task\s+shot\s+exp\s+method\s+seed\s+settings$/);
    expect(lines[1]).toMatch(
      new RegExp(`^${plan.jobs[0].id}\\s+colon\\s+1\\s+1\\s+linear-probe\\s+0$`),
    );
    expect(lines.at(-1)).toBe("2 jobs");
  });
});
