import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runMedfm } from "../testing/run-medfm";

const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const annotationsRoot = resolve(repositoryRoot, "../shared/medfmc-anns");
const hasShared = existsSync(annotationsRoot);
if (!hasShared) {
  console.warn(
    `medfm metrics real-file test skipped: ${annotationsRoot} is absent (CI provides ../shared)`,
  );
}

interface MultiLabelFixture {
  name: string;
  scores: number[][];
  targets: number[][];
  averagePrecision: number[];
  meanAveragePrecision: number;
  averagePrecisionSklearn: number[];
  meanAveragePrecisionSklearn: number;
  rocAuc: (number | null)[];
  meanRocAuc: number | null;
}
interface MultiClassFixture {
  name: string;
  scores: number[][];
  labels: number[];
  accuracyTop1: number;
  sensitivity?: number;
  specificity?: number;
  softmaxPositiveAuc?: number;
  baselineColumnMeanAuc?: number;
}
// Expected values from sklearn and the mmpretrain transcription
// (scripts/fixtures/metrics/generate_parity.py).
const parity = JSON.parse(
  readFileSync(join(repositoryRoot, "packages/metrics/src/__fixtures__/parity.json"), "utf8"),
) as { multiLabel: MultiLabelFixture[]; multiClass: MultiClassFixture[] };

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "medfm-metrics-"));
}

/** A deterministic permutation, so matching by name (not by position) is exercised. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  let state = 12345;
  for (let index = out.length - 1; index > 0; index--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const other = state % (index + 1);
    [out[index], out[other]] = [out[other], out[index]];
  }
  return out;
}

function writeScores(path: string, names: readonly string[], scores: readonly number[][]): void {
  const lines = names.map((name, index) => `${name},${scores[index].join(",")}`);
  writeFileSync(path, `${shuffled(lines).join("\n")}\n`);
}

function expectCloseList(actual: (number | null)[], expected: (number | null)[]): void {
  expect(actual).toHaveLength(expected.length);
  for (const [index, value] of actual.entries()) {
    const reference = expected[index];
    if (reference === null) expect(value).toBeNull();
    else expect(Math.abs((value as number) - reference)).toBeLessThan(1e-12);
  }
}

describe("medfm metrics", () => {
  it("scores an endo submission like mmpretrain and sklearn (mmpretrain's docstring case)", async () => {
    const fixture = parity.multiLabel.find((entry) => entry.name === "mmpretrain-docstring")!;
    const dir = tempDir();
    const names = fixture.targets.map((_, index) => `13333_2021.11_000${index}_frame.png`);
    writeFileSync(
      join(dir, "labels.txt"),
      names.map((name, index) => `${name} ${fixture.targets[index].join(" ")}\n`).join(""),
    );
    writeScores(join(dir, "scores.csv"), names, fixture.scores);
    const out = await runMedfm([
      "metrics",
      "--task",
      "endo",
      "--scores",
      join(dir, "scores.csv"),
      "--labels",
      join(dir, "labels.txt"),
      "--json",
    ]);
    const report = JSON.parse(out);
    expect(report.samples).toBe(4);
    expect(Math.abs(report.mAP - 0.70833333333333)).toBeLessThan(1e-12);
    expectCloseList(report.AP, fixture.averagePrecision);
    expectCloseList(report.AUCPerClass, fixture.rocAuc);
    expect(Math.abs(report.AUC - fixture.meanRocAuc!)).toBeLessThan(1e-12);
    expect(report.notes.join("\n")).toContain("class 3 (tumor) has no positive target");
  });

  it("scores a chest submission, with either AP definition", async () => {
    const fixture = parity.multiLabel.find((entry) => entry.name === "chest-shaped")!;
    const dir = tempDir();
    const names = fixture.targets.map((_, index) => `DX.1.2.${1000 + index}.png`);
    writeFileSync(
      join(dir, "labels.txt"),
      names.map((name, index) => `${name} ${fixture.targets[index].join(",")}\n`).join(""),
    );
    writeScores(join(dir, "scores.csv"), names, fixture.scores);
    const args = ["metrics", "--task", "chest", "--scores", join(dir, "scores.csv")];
    const labels = ["--labels", join(dir, "labels.txt"), "--json"];
    const report = JSON.parse(await runMedfm([...args, ...labels]));
    expect(Math.abs(report.mAP - fixture.meanAveragePrecision)).toBeLessThan(1e-12);
    expectCloseList(report.AP, fixture.averagePrecision);
    expectCloseList(report.AUCPerClass, fixture.rocAuc);
    expect(Math.abs(report.AUC - fixture.meanRocAuc!)).toBeLessThan(1e-12);
    expect(report.classes[11]).toBe("pneumothorax");
    const sklearn = JSON.parse(await runMedfm([...args, ...labels, "--ap-definition", "sklearn"]));
    expect(Math.abs(sklearn.mAP - fixture.meanAveragePrecisionSklearn)).toBeLessThan(1e-12);
    const text = await runMedfm([...args, "--labels", join(dir, "labels.txt")]);
    expect(text).toMatch(/^chest: 90 samples\nmAP {2}0\.\d{4} {2}\(mmpretrain\)/);
    expect(text).toContain("pneumothorax");
  });

  it("scores colon by the softmax probability of positive, equal to the baseline's column mean", async () => {
    const fixture = parity.multiClass.find((entry) => entry.name === "binary-logits")!;
    const dir = tempDir();
    // Colon names contain spaces; the label is the last token.
    const names = fixture.labels.map((_, index) => `tile ${index} of slide p00${index % 7}.png`);
    writeFileSync(
      join(dir, "labels.txt"),
      names.map((name, index) => `${name} ${fixture.labels[index]}\n`).join(""),
    );
    writeScores(join(dir, "scores.csv"), names, fixture.scores);
    const report = JSON.parse(
      await runMedfm([
        "metrics",
        "--task",
        "colon",
        "--scores",
        join(dir, "scores.csv"),
        "--labels",
        join(dir, "labels.txt"),
        "--json",
      ]),
    );
    expect(report.accuracy).toBe(fixture.accuracyTop1);
    expect(Math.abs(report.AUC - fixture.softmaxPositiveAuc!)).toBeLessThan(1e-12);
    expect(Math.abs(report.AUC - fixture.baselineColumnMeanAuc!)).toBeLessThan(1e-12);
    expect(Math.abs(report.sensitivity - fixture.sensitivity!)).toBeLessThan(1e-12);
    expect(Math.abs(report.specificity - fixture.specificity!)).toBeLessThan(1e-12);
  });

  it("lists missing and extra names, and rejects a header row or a wrong column count", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "labels.txt"), "a.png 1 0 0 0\nb.png 0 1 0 0\nc.png 0 0 1 0\n");
    const scores = join(dir, "scores.csv");
    const run = () =>
      runMedfm([
        "metrics",
        "--task",
        "endo",
        "--scores",
        scores,
        "--labels",
        join(dir, "labels.txt"),
      ]);
    writeFileSync(scores, "a.png,0.1,0.2,0.3,0.4\nz.png,0.1,0.2,0.3,0.4\n");
    await expect(run()).rejects.toThrow(
      `${scores}: 2 labelled names have no scores: "b.png", "c.png"; 1 scored names are not in ${join(dir, "labels.txt")}: "z.png"`,
    );
    writeFileSync(scores, "name,ulcer,erosion,polyp,tumor\na.png,0.1,0.2,0.3,0.4\n");
    await expect(run()).rejects.toThrow(
      `${scores}:1: score 1 is "ulcer"; expected a finite number (the file must have no header row)`,
    );
    writeFileSync(scores, "a.png,0.1,0.2,0.3,0.4\nb.png,0.1,0.2\n");
    await expect(run()).rejects.toThrow(`${scores}:2: has 3 columns; expected a name and 4 scores`);
    writeFileSync(scores, "a.png,0.1,0.2,0.3,0.4\na.png,0.1,0.2,0.3,0.4\n");
    await expect(run()).rejects.toThrow('names repeated: "a.png" (lines 1 and 2)');
    writeFileSync(join(dir, "labels.txt"), "a.png\nb.png\n");
    writeFileSync(scores, "a.png,0.1,0.2,0.3,0.4\nb.png,0.1,0.2,0.3,0.4\n");
    await expect(run()).rejects.toThrow("has no labels (a test_WithoutLabel list?)");
  });

  it.skipIf(!hasShared)(
    "matches rows by name on the real endo test_WithLabel.txt and flags tumor (no positives)",
    async () => {
      const labelsPath = join(annotationsRoot, "endo/test_WithLabel.txt");
      const lines = readFileSync(labelsPath, "utf8").trim().split("\n");
      const names = lines.map((line) => line.split(" ")[0]);
      const scores = lines.map((line, row) =>
        line
          .split(" ")
          .slice(1)
          .map(
            (label, column) =>
              Math.round((Number(label) * 0.6 + ((row * 7 + column * 13) % 10) / 10) * 20) / 20,
          ),
      );
      const dir = tempDir();
      writeScores(join(dir, "scores.csv"), names, scores);
      const args = ["metrics", "--task", "endo", "--scores", join(dir, "scores.csv")];
      const report = JSON.parse(await runMedfm([...args, "--labels", labelsPath, "--json"]));
      expect(report.samples).toBe(881);
      expect(report.AUCPerClass[3]).toBeNull();
      expect(report.AP[3]).toBe(0);
      expect(report.notes.join("\n")).toContain("class 3 (tumor) has no positive target");
      expect(report.AUC).toBeGreaterThan(0.6);
      expect(report.AUC).toBeCloseTo(
        (report.AUCPerClass[0] + report.AUCPerClass[1] + report.AUCPerClass[2]) / 3,
        12,
      );
    },
  );
});
