import { describe, expect, it } from "vitest";
import { cosineSchedule, stepSchedule } from "./schedules";

describe("schedules", () => {
  it("cosine anneals from the base rate to the minimum at the last step", () => {
    const schedule = cosineSchedule({ baseLr: 0.001, totalSteps: 101 });
    expect(schedule(0)).toBeCloseTo(0.001, 12);
    expect(schedule(50)).toBeCloseTo(0.0005, 12);
    expect(schedule(100)).toBeCloseTo(0, 12);
    for (let step = 1; step <= 100; step += 1)
      expect(schedule(step)).toBeLessThan(schedule(step - 1));
  });

  it("warms up linearly before the cosine", () => {
    const schedule = cosineSchedule({
      baseLr: 1,
      totalSteps: 20,
      warmupSteps: 10,
      warmupStartFactor: 0.1,
    });
    expect(schedule(0)).toBeCloseTo(0.1, 12);
    expect(schedule(5)).toBeCloseTo(0.55, 12);
    expect(schedule(10)).toBeCloseTo(1, 12);
    expect(schedule(19)).toBeCloseTo(0, 12);
  });

  it("rejects a warmup as long as the run", () => {
    expect(() => cosineSchedule({ baseLr: 1, totalSteps: 10, warmupSteps: 10 })).toThrow(/got 10/);
  });

  it("decays by gamma at each milestone", () => {
    const schedule = stepSchedule({ baseLr: 1, milestones: [10, 5], gamma: 0.5 });
    expect([0, 4, 5, 9, 10, 100].map(schedule)).toEqual([1, 1, 0.5, 0.5, 0.25, 0.25]);
  });
});
