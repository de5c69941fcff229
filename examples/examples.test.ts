/**
 * Runs the colon and endo examples as a user would (tsx, a short schedule) in an empty folder,
 * and checks what they print and store. chest-train.test.ts covers the chest demo.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readRun } from "@medfm/track";
import { afterAll, describe, expect, it } from "vitest";

const examples = new URL(".", import.meta.url).pathname;
const tsx = join(examples, "..", "node_modules", ".bin", "tsx");
const workDir = mkdtempSync(join(tmpdir(), "medfm-examples-"));

function runExample(name: string): { output: string; runPath: string } {
  const output = execFileSync(tsx, [join(examples, name), "--epochs", "2", "--image-size", "32"], {
    cwd: workDir,
    encoding: "utf8",
    env: { ...process.env, MEDFM_BACKEND: "wasm", MEDFM_TRACK_MODE: "" },
  });
  const runPath = output.match(/stored in (.+)$/m)?.[1];
  if (!runPath) throw new Error(`${name} printed no run path:\n${output}`);
  return { output, runPath };
}

describe("task examples", () => {
  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  it("colon-train.ts reports accuracy against the majority class and AUC", () => {
    const { output, runPath } = runExample("colon-train.ts");
    const lines = output.split("\n").filter((line) => line.startsWith("epoch "));
    expect(lines).toHaveLength(2);
    const [, accuracy, majority] = lines[1]
      .match(/val accuracy (\S+) \(majority class (\S+)\)/)!
      .map(Number);
    expect(accuracy).toBeGreaterThan(majority);
    const run = readRun(runPath);
    expect(run.series["val/accuracy"]).toHaveLength(2);
    expect(run.params.loss).toBeUndefined();
  });

  it("endo-train.ts reports mAP, AUC and AP per lesion class", () => {
    const { output, runPath } = runExample("endo-train.ts");
    const lines = output.split("\n").filter((line) => line.startsWith("epoch "));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/AP: ulcer \d+\.\d, erosion \d+\.\d, polyp \d+\.\d, tumor \d+\.\d$/);
    const [, mAP, chance] = lines[1].match(/val mAP (\S+) \(chance (\S+)\)/)!.map(Number);
    expect(mAP).toBeGreaterThan(chance);
    expect(readRun(runPath).params.loss).toBe("asymmetric");
  });

  it("few-shot.ts compares the four adaptation methods by challenge score", () => {
    const output = execFileSync(
      tsx,
      [join(examples, "few-shot.ts"), "--shots", "1", "--exps", "1"],
      {
        cwd: workDir,
        encoding: "utf8",
        env: { ...process.env, MEDFM_BACKEND: "wasm" },
      },
    );
    const lines = output.split("\n").filter((line) => /score \d+\.\d+/.test(line));
    expect(lines.map((line) => line.split(/\s+/)[0])).toEqual([
      "linear-probe",
      "meta-baseline",
      "visual-prompt",
      "finetune",
    ]);
    for (const line of lines) expect(line).toMatch(/\(mAP \d+\.\d+ {2}AUC \d+\.\d+\)$/);
  });
});
