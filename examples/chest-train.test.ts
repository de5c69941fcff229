/**
 * Runs examples/chest-train.ts as a user would (tsx, no arguments but a short schedule) in an
 * empty folder, and checks what it prints and what it stores.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readRun } from "@medfm/track";
import { afterAll, describe, expect, it } from "vitest";

const examples = new URL(".", import.meta.url).pathname;
const tsx = join(examples, "..", "node_modules", ".bin", "tsx");
const workDir = mkdtempSync(join(tmpdir(), "medfm-chest-example-"));

describe("examples/chest-train.ts", () => {
  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  it("trains on the embedded dataset, prints per-epoch metrics and stores the run", () => {
    const output = execFileSync(
      tsx,
      [join(examples, "chest-train.ts"), "--epochs", "2", "--image-size", "32"],
      {
        cwd: workDir,
        encoding: "utf8",
        env: { ...process.env, MEDFM_BACKEND: "wasm", MEDFM_TRACK_MODE: "" },
      },
    );
    const epochLines = output.split("\n").filter((line) => /^epoch\s+\d+\/2/.test(line));
    expect(epochLines).toHaveLength(2);
    expect(epochLines[1]).toMatch(/val mAP \d+\.\d+ \(chance \d+\.\d+\)\s+AUC \d+\.\d+/);
    expect(output).toMatch(/classes have no positive in the validation set/);
    // Even two short epochs at 32 px must beat a random ranking.
    const [, mAP, chance] = epochLines[1].match(/val mAP (\S+) \(chance (\S+)\)/)!.map(Number);
    expect(mAP).toBeGreaterThan(chance + 3);
    const stored = output.match(/stored in (.+)$/m)?.[1];
    expect(stored).toBeDefined();
    const runs = readdirSync(join(workDir, ".medfm", "runs"));
    expect(runs).toHaveLength(1);
    const run = readRun(stored!);
    expect(run.status).toBe("finished");
    expect(run.params.epochs).toBe(2);
    expect(run.series["val/mAP"]).toHaveLength(2);
    expect(run.series["val/AUC"]).toHaveLength(2);
    expect(run.series["train/loss"].length).toBeGreaterThan(10);
  });
});
