import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runMedfm } from "../testing/run-medfm";

const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const annotationsRoot = resolve(repositoryRoot, "../shared/medfmc-anns");
const hasShared = existsSync(annotationsRoot);
if (!hasShared)
  console.warn(
    `medfm data real-file tests skipped: ${annotationsRoot} is absent (CI provides ../shared)`,
  );

const runJson = async (args: string[]) => JSON.parse(await runMedfm([...args, "--json"]));
const tempDir = () => mkdtempSync(join(tmpdir(), "medfm-data-cli-"));

/** Positives per column counted straight from MedFMC text, independently of @medfm/data. */
function countColumns(text: string, separator: string): number[] {
  const rows = text
    .trim()
    .split("\n")
    .map((line) =>
      line
        .slice(line.indexOf(" ") + 1)
        .split(separator)
        .map(Number),
    );
  return rows[0].map((_, column) => rows.reduce((sum, row) => sum + row[column], 0));
}

const endoText = [
  "13333_2021.11_0002_54971718.png 1 0 0 0",
  "13333_2021.11_0002_54971654.png 0 1 1 0",
  "13333_2021.12_0005_56232354.png 0 0 0 0",
  "13333_2021.12_0007_57297497.png 1 0 0 1",
  "13333_2021.12_0007_57297486.png 1 0 0 1",
  "13333_2021.12_0007_57297497.png 1 0 0 1",
].join("\n");

describe("medfm data stats", () => {
  it("prints count, classes, positives, duplicates and cardinality as JSON, and SVG charts", async () => {
    const folder = tempDir();
    const file = join(folder, "endo.txt");
    writeFileSync(file, `${endoText}\n`);
    const stats = await runJson([
      "data",
      "stats",
      "--task",
      "endo",
      "--ann",
      file,
      "--svg",
      join(folder, "svg"),
    ]);
    expect(stats.count).toBe(6);
    expect(stats.classes).toEqual(["ulcer", "erosion", "polyp", "tumor"]);
    expect(stats.positives).toEqual(countColumns(endoText, " "));
    expect(stats.duplicates).toBe(1);
    expect(stats.cardinality.histogram).toEqual([1, 1, 4]);
    expect(stats.groups).toBe(3);
    expect(readdirSync(join(folder, "svg")).sort()).toEqual([
      "class-counts.svg",
      "co-occurrence.svg",
      "labels-per-image.svg",
    ]);
    const text = await runMedfm(["data", "stats", "--task", "endo", "--ann", file]);
    expect(text).toContain("6 samples, 5 distinct, 1 duplicate lines, 3 groups");
  });

  it.skipIf(!hasShared)("counts the real chest trainval and colon samples per class", async () => {
    const chestFile = join(annotationsRoot, "chest/trainval.txt");
    const chest = await runJson(["data", "stats", "--task", "chest", "--ann", chestFile]);
    expect(chest.count).toBe(979);
    expect(chest.positives).toEqual(countColumns(readFileSync(chestFile, "utf8"), ","));
    expect(chest.cardinality.histogram.reduce((a: number, b: number) => a + b, 0)).toBe(979);
    const colonFile = join(annotationsRoot, "colon/trainval.txt");
    const colon = await runJson(["data", "stats", "--task", "colon", "--ann", colonFile]);
    const positive = readFileSync(colonFile, "utf8")
      .trim()
      .split("\n")
      .filter((line) => line.endsWith(" 1")).length;
    expect(colon.positives).toEqual([2358 - positive, positive]);
    const both = await runJson([
      "data",
      "stats",
      "--task",
      "endo",
      "--ann",
      join(annotationsRoot, "endo/trainval.txt"),
      "--ann",
      join(annotationsRoot, "endo/test_WithLabel.txt"),
    ]);
    expect(both.lists).toHaveLength(2);
    expect(both.comparison.missing).toContain("test_WithLabel.txt: tumor");
  });
});

describe("medfm data check", () => {
  it.skipIf(!hasShared)(
    "shows the official few-shot train/val overlap with counts and examples",
    async () => {
      const chest = await runJson([
        "data",
        "check",
        "--task",
        "chest",
        "--ann",
        join(annotationsRoot, "chest/chest_10-shot_train_exp1.txt"),
        "--ann",
        join(annotationsRoot, "chest/chest_10-shot_val_exp1.txt"),
      ]);
      expect(chest.duplicates.count).toBeGreaterThan(0);
      expect(chest.overlap.count).toBeGreaterThan(0);
      expect(chest.overlap.findings[0].examples.length).toBeGreaterThan(0);
      expect(chest.clean).toBe(false);
      const endo = await runJson([
        "data",
        "check",
        "--task",
        "endo",
        "--ann",
        join(annotationsRoot, "endo/endo_5-shot_train_exp1.txt"),
        "--ann",
        join(annotationsRoot, "endo/endo_5-shot_val_exp1.txt"),
      ]);
      expect(endo.groupOverlap.count).toBeGreaterThan(0);
      expect(endo.groupOverlap.findings[0].examples[0].group).toHaveLength(18);
      await expect(
        runMedfm([
          "data",
          "check",
          "--task",
          "endo",
          "--fail-on-leakage",
          "--ann",
          join(annotationsRoot, "endo/endo_5-shot_train_exp1.txt"),
          "--ann",
          join(annotationsRoot, "endo/endo_5-shot_val_exp1.txt"),
        ]),
      ).rejects.toThrow(/leakage found: \d+ duplicate lines, \d+ shared names, \d+ shared groups/);
    },
  );

  it("fails on bad input with every problem of every file, and on missing images", async () => {
    const folder = tempDir();
    const first = join(folder, "a.txt");
    const second = join(folder, "b.txt");
    writeFileSync(first, "x.png 1 0 0\n");
    writeFileSync(second, "y.png 1 0 0 0\n../z.png 0 0 0 0\n");
    await expect(
      runMedfm(["data", "check", "--task", "endo", "--ann", first, "--ann", second]),
    ).rejects.toThrow(
      /2 annotation problems:\n {2}.*a\.txt:1: expected 4 labels \(task endo\), got 3[\s\S]*b\.txt:2: `\.\.` in an image name refused/,
    );
    writeFileSync(join(folder, "y.png"), "");
    await expect(
      runMedfm(["data", "check", "--task", "endo", "--ann", join(folder, "c.txt")]),
    ).rejects.toThrow(/c\.txt: cannot read annotation file/);
    writeFileSync(second, "y.png 1 0 0 0\nw.png 0 0 0 0\n");
    await expect(
      runMedfm(["data", "check", "--task", "endo", "--ann", second, "--data-root", folder]),
    ).rejects.toThrow(/b\.txt:2: image not found under/);
    await expect(runMedfm(["data", "check", "--task", "lung", "--ann", second])).rejects.toThrow(
      /Unknown task "lung"/,
    );
    await expect(runMedfm(["data", "stats", "--task", "endo"])).rejects.toThrow(
      /give at least one --ann FILE/,
    );
  });

  it.skipIf(!hasShared)(
    "with --data-root, refuses symlinks leading outside it and directories in place of images",
    async () => {
      const folder = tempDir();
      const root = join(folder, "images");
      mkdirSync(root);
      const lines = readFileSync(join(annotationsRoot, "chest/trainval.txt"), "utf8")
        .split("\n")
        .slice(0, 3);
      const names = lines.map((line) => line.split(" ")[0]);
      const outside = join(folder, "outside.png");
      writeFileSync(outside, "");
      symlinkSync(outside, join(root, names[0]));
      mkdirSync(join(root, names[1]));
      writeFileSync(join(root, names[2]), "");
      const file = join(folder, "train.txt");
      writeFileSync(file, `${lines.join("\n")}\n`);
      const args = ["data", "check", "--task", "chest", "--ann", file, "--data-root", root];
      await expect(runMedfm(args)).rejects.toThrow(
        /2 annotation problems:\n {2}.*train\.txt:1: is a symbolic link to .*outside\.png, outside the data root .*\(refused; allow with followSymlinks\)[\s\S]*train\.txt:2: is a directory, not an image file: "[^"]+"$/,
      );
      await expect(runMedfm([...args, "--follow-symlinks"])).rejects.toThrow(
        /^1 annotation problem.*:\n {2}.*train\.txt:2: is a directory, not an image file: "[^"]+"$/,
      );
    },
  );

  it("reports 250k bad lines of two files in one error instead of overflowing the stack", async () => {
    const folder = tempDir();
    const lines: string[] = [];
    for (let i = 0; i < 125_000; i += 1) lines.push(`s_${i}.png 1 0 0`);
    const files = [join(folder, "a.txt"), join(folder, "b.txt")];
    for (const file of files) writeFileSync(file, `${lines.join("\n")}\n`);
    const run = runMedfm(["data", "check", "--task", "endo", "--ann", files[0], "--ann", files[1]]);
    await expect(run).rejects.toThrow(
      /^250000 annotation problems:\n {2}.*a\.txt:1: expected 4 labels \(task endo\), got 3[\s\S]*\.\.\. and 249950 more$/,
    );
  });
});

describe("medfm data split, fewshot and convert", () => {
  it("writes stratified k-fold files with a split report", async () => {
    const folder = tempDir();
    const file = join(folder, "pool.txt");
    const lines = Array.from(
      { length: 60 },
      (_, index) =>
        `img${index}.png ${index % 3 === 0 ? 1 : 0},${index % 4 === 0 ? 1 : 0},${index % 5 === 0 ? 1 : 0}`,
    );
    writeFileSync(file, `${lines.join("\n")}\n`);
    const result = await runJson([
      "data",
      "split",
      "--classes",
      "a,b,c",
      "--ann",
      file,
      "--folds",
      "3",
      "--seed",
      "4",
      "--out",
      join(folder, "folds"),
    ]);
    expect(result.files).toHaveLength(6);
    expect(readdirSync(join(folder, "folds")).sort()).toContain("pool_fold1_val.txt");
    const valNames = [1, 2, 3].flatMap((fold) =>
      readFileSync(join(folder, "folds", `pool_fold${fold}_val.txt`), "utf8")
        .trim()
        .split("\n")
        .map((line) => line.split(" ")[0]),
    );
    expect(new Set(valNames).size).toBe(60);
    expect(result.report.overall.positives).toEqual(countColumns(lines.join("\n"), ","));
    expect(result.report.maxCountDeviation.value).toBeLessThanOrEqual(1);
    await expect(
      runMedfm([
        "data",
        "split",
        "--classes",
        "a,b,c",
        "--ann",
        file,
        "--folds",
        "1",
        "--out",
        folder,
      ]),
    ).rejects.toThrow(/'--folds <k>' argument '1' is invalid. expected an integer >= 2, got 1/);
  });

  it.skipIf(!hasShared)(
    "splits colon by patient and draws K-shot files named like the official ones",
    async () => {
      const folder = tempDir();
      const split = await runJson([
        "data",
        "split",
        "--task",
        "colon",
        "--group",
        "--val-fraction",
        "0.2",
        "--ann",
        join(annotationsRoot, "colon/trainval.txt"),
        "--out",
        folder,
      ]);
      expect(split.grouped).toBe(true);
      const check = await runJson([
        "data",
        "check",
        "--task",
        "colon",
        "--ann",
        split.files[0].path,
        "--ann",
        split.files[1].path,
      ]);
      expect(check.clean).toBe(true);
      const fewshot = await runJson([
        "data",
        "fewshot",
        "--task",
        "endo",
        "--shots",
        "1,5",
        "--ann",
        join(annotationsRoot, "endo/trainval.txt"),
        "--out",
        join(folder, "fs"),
      ]);
      expect(fewshot.experiments).toHaveLength(10);
      const written = readdirSync(join(folder, "fs")).sort();
      const official = readdirSync(join(annotationsRoot, "endo"))
        .filter((name) => /^endo_(1|5)-shot/.test(name))
        .sort();
      expect(written).toEqual(official);
      const leak = await runJson([
        "data",
        "check",
        "--task",
        "endo",
        "--ann",
        join(folder, "fs/endo_5-shot_train_exp3.txt"),
        "--ann",
        join(folder, "fs/endo_5-shot_val_exp3.txt"),
      ]);
      expect(leak.clean).toBe(true);
    },
  );

  it("converts MedFMC text to mmpretrain JSON and CSV and back unchanged", async () => {
    const folder = tempDir();
    const source = join(folder, "endo.txt");
    const distinct = [...new Set(endoText.split("\n"))].join("\n");
    writeFileSync(source, `${distinct}\n`);
    const toJson = await runJson([
      "data",
      "convert",
      "--task",
      "endo",
      "--ann",
      source,
      "--out",
      join(folder, "endo.json"),
    ]);
    expect(toJson).toMatchObject({ from: "medfmc-space", to: "mmpretrain-json", count: 5 });
    expect(JSON.parse(readFileSync(join(folder, "endo.json"), "utf8")).data_list[1]).toEqual({
      img_path: "13333_2021.11_0002_54971654.png",
      gt_label: [1, 2],
    });
    await runMedfm([
      "data",
      "convert",
      "--task",
      "endo",
      "--ann",
      join(folder, "endo.json"),
      "--out",
      join(folder, "endo.csv"),
    ]);
    await runMedfm([
      "data",
      "convert",
      "--task",
      "endo",
      "--ann",
      join(folder, "endo.csv"),
      "--out",
      join(folder, "back.txt"),
    ]);
    expect(readFileSync(join(folder, "back.txt"), "utf8")).toBe(`${distinct}\n`);
  });
});
