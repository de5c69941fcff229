import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePlan, planGrid } from "@medfm/grid";
import { describe, expect, it } from "vitest";
import { runMedfmLines } from "../testing/run-medfm";

describe("medfm grid plan", () => {
  it("prints one table line per job and writes the plan JSON that grid submit reads", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "medfm-grid-plan-")), "plan.json");
    const lines = await runMedfmLines([
      "grid",
      "plan",
      "--task",
      "chest,colon",
      "--shots",
      "1,5",
      "--exps",
      "1-2",
      "--method",
      "linear-probe",
      "--seeds",
      "0,1",
      "--set",
      "probe-c=0.5,2",
      "--image-size",
      "32",
      "--output",
      file,
    ]);
    expect(lines[0]).toMatch(/^id\s+task\s+shot\s+exp\s+method\s+seed\s+settings$/);
    expect(lines).toContain("32 jobs");
    expect(lines.at(-1)).toBe(`plan written to ${file}`);
    const plan = parsePlan(readFileSync(file, "utf8"), file);
    const expected = planGrid({
      tasks: ["chest", "colon"],
      shots: [1, 5],
      experiments: [1, 2],
      methods: ["linear-probe"],
      seeds: [0, 1],
      sets: { "probe-c": [0.5, 2] },
      imageSize: 32,
      batchSize: 8,
      epochs: 10,
    });
    expect(plan).toEqual(expected);
    expect(lines.filter((line) => /^g[0-9a-f]{24}\s/.test(line))).toHaveLength(32);
  });

  it("refuses a numeric option that is not a positive integer, naming it", async () => {
    await expect(
      runMedfmLines(["grid", "plan", "--task", "chest", "--epochs", "abc"]),
    ).rejects.toThrow(/--epochs.*abc/);
    await expect(
      runMedfmLines(["grid", "plan", "--task", "chest", "--batch-size", "0"]),
    ).rejects.toThrow(/--batch-size.*0/);
  });

  it("names an unknown task", async () => {
    await expect(runMedfmLines(["grid", "plan", "--task", "brain"])).rejects.toThrow(
      /--task brain/,
    );
  });
});
