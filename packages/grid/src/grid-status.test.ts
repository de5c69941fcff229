import type { Job } from "bullmq";
import { describe, expect, it } from "vitest";
import type { GridJobData, GridJobResult } from "./grid-job";
import { tallyGridJobs } from "./grid-status";

/** The parts of a BullMQ job the tally reads. */
function job(id: string, task: string, shot: number, extra: Partial<Job> = {}) {
  const config = { task, shot, experiment: 1, method: "linear-probe" };
  return {
    id,
    data: { config },
    attemptsMade: 1,
    ...extra,
  } as unknown as Job<GridJobData, GridJobResult>;
}

describe("tallyGridJobs", () => {
  it("counts a job that moved on between the per-state reads once, in its later state", () => {
    const result = { jobId: "b", config: {}, metrics: { AUC: 0.7 } } as unknown as GridJobResult;
    // "b" was active when the active jobs were read and completed when the completed ones were;
    // "c" was waiting, then active. "a" stayed waiting; "d" failed.
    const status = tallyGridJobs([
      ["waiting", [job("a", "chest", 1), job("c", "colon", 5)]],
      ["active", [job("b", "chest", 1), job("c", "colon", 5)]],
      ["delayed", []],
      ["completed", [job("b", "chest", 1, { returnvalue: result } as Partial<Job>)]],
      ["failed", [job("d", "endo", 1, { failedReason: "out of memory" } as Partial<Job>)]],
    ]);
    expect(status.total).toBe(4);
    expect(status.counts).toEqual({ waiting: 1, active: 1, delayed: 0, completed: 1, failed: 1 });
    expect(status.results).toEqual([result]);
    expect(status.failures).toEqual([
      expect.objectContaining({ jobId: "d", task: "endo", error: "out of memory" }),
    ]);
    const chest = status.groups.find((group) => group.task === "chest");
    expect(chest?.counts).toEqual({ waiting: 1, active: 0, delayed: 0, completed: 1, failed: 0 });
    expect(status.groups.map((group) => group.task)).toEqual(["chest", "colon", "endo"]);
  });
});
