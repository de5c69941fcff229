import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { generateSyntheticDataset } from "./generate-synthetic-dataset";

const directories: string[] = [];
async function freshDir(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "medfm-synthetic-"));
  directories.push(directory);
  return directory;
}
afterAll(async () => {
  await Promise.all(
    directories.map((directory) => rm(directory, { recursive: true, force: true })),
  );
});

async function digest(directory: string): Promise<string> {
  const hash = createHash("sha256");
  for (const file of (await readdir(join(directory, "images"))).sort()) {
    hash.update(file);
    hash.update(await readFile(join(directory, "images", file)));
  }
  hash.update(await readFile(join(directory, "train.txt")));
  hash.update(await readFile(join(directory, "val.txt")));
  return hash.digest("hex");
}

describe("generateSyntheticDataset (chest)", () => {
  it("writes grayscale PNGs and official chest annotation lines", async () => {
    const outputDir = await freshDir();
    const dataset = await generateSyntheticDataset({
      outputDir,
      trainCount: 60,
      valCount: 20,
      imageSize: 48,
      seed: 3,
    });
    expect(dataset.dataRoot).toBe(join(outputDir, "images"));
    const train = await readFile(dataset.trainAnnotation, "utf8");
    expect(train.endsWith("\n")).toBe(true);
    expect(train).not.toContain("\r");
    const lines = train.slice(0, -1).split("\n");
    expect(lines).toHaveLength(60);
    for (const line of lines) expect(line).toMatch(/^\S+\.png [01](,[01]){18}$/);
    expect((await readFile(dataset.valAnnotation, "utf8")).trim().split("\n")).toHaveLength(20);
    const first = lines[0].split(" ")[0];
    const metadata = await sharp(join(dataset.dataRoot, first)).metadata();
    expect(metadata).toMatchObject({ format: "png", width: 48, height: 48, channels: 1 });
    expect(dataset.classes).toHaveLength(19);
    expect(dataset.activeClasses.length).toBeGreaterThanOrEqual(5);
  });

  it("gives active classes their prevalence and never labels inactive ones", async () => {
    const outputDir = await freshDir();
    const dataset = await generateSyntheticDataset({
      outputDir,
      trainCount: 300,
      valCount: 10,
      imageSize: 32,
      seed: 11,
    });
    const rows = (await readFile(dataset.trainAnnotation, "utf8"))
      .trim()
      .split("\n")
      .map((line) => line.split(" ")[1].split(",").map(Number));
    dataset.classes.forEach((entry, index) => {
      const rate = rows.reduce((sum, row) => sum + row[index], 0) / rows.length;
      if (entry.prevalence === 0) expect(rate).toBe(0);
      else expect(Math.abs(rate - entry.prevalence)).toBeLessThan(0.1);
    });
  });

  it("is byte-identical for a seed and differs across seeds (chest)", async () => {
    const options = { trainCount: 12, valCount: 4, imageSize: 32 };
    const a = await freshDir();
    const b = await freshDir();
    const c = await freshDir();
    await generateSyntheticDataset({ ...options, outputDir: a, seed: 7 });
    await generateSyntheticDataset({ ...options, outputDir: b, seed: 7 });
    await generateSyntheticDataset({ ...options, outputDir: c, seed: 8 });
    expect(await digest(a)).toBe(await digest(b));
    expect(await digest(a)).not.toBe(await digest(c));
  });
});

function parseLine(task: string, line: string): { name: string; labels: number[] } {
  const end = line.lastIndexOf(".png") + 4;
  const name = line.slice(0, end);
  const rest = line.slice(end + 1);
  if (task === "colon") return { name, labels: rest === "1" ? [0, 1] : [1, 0] };
  return { name, labels: rest.split(task === "chest" ? "," : " ").map(Number) };
}

describe.each(["chest", "colon", "endo"] as const)("generateSyntheticDataset (%s)", (task) => {
  it("ties every active label to a visible difference", async () => {
    // Largest gap between the mean images with and without each label: a drawn structure
    // moves the mean image far more than noise and the other labels do.
    const outputDir = await freshDir();
    const dataset = await generateSyntheticDataset({
      task,
      outputDir,
      trainCount: 160,
      valCount: 4,
      imageSize: 32,
      seed: 5,
    });
    const rows = (await readFile(dataset.trainAnnotation, "utf8")).trim().split("\n");
    const images = await Promise.all(
      rows.map(async (line) => {
        const { name, labels } = parseLine(task, line);
        const data = await sharp(join(dataset.dataRoot, name)).raw().toBuffer();
        return { data, labels };
      }),
    );
    for (const index of dataset.activeClasses) {
      const sums = [new Float64Array(32 * 32 * 3), new Float64Array(32 * 32 * 3)];
      const counts = [0, 0];
      for (const image of images) {
        const group = image.labels[index];
        counts[group] += 1;
        image.data.forEach((value, i) => {
          sums[group][i] += value;
        });
      }
      expect(
        counts[0] * counts[1],
        `${task} ${dataset.classes[index].name} occurs`,
      ).toBeGreaterThan(0);
      let difference = 0;
      for (let i = 0; i < sums[0].length; i += 1) {
        difference = Math.max(
          difference,
          Math.abs(sums[1][i] / counts[1] - sums[0][i] / counts[0]),
        );
      }
      expect(difference, dataset.classes[index].name).toBeGreaterThan(25);
    }
  });
});

describe("generateSyntheticDataset (colon, endo) naming and groups", () => {
  it("writes colon lines with spaces in names and one label per patient", async () => {
    const dataset = await generateSyntheticDataset({
      task: "colon",
      outputDir: await freshDir(),
      trainCount: 40,
      valCount: 8,
      imageSize: 24,
      seed: 1,
    });
    expect(dataset.classes.map((entry) => entry.name)).toEqual(["negative", "positive"]);
    const lines = (await readFile(dataset.trainAnnotation, "utf8")).trimEnd().split("\n");
    const byPatient = new Map<string, Set<string>>();
    for (const line of lines) {
      expect(line).toMatch(/^\S.* \S.*\.png [01]$/);
      const name = line.slice(0, -2);
      const patient = name.slice(0, -9);
      byPatient.set(patient, (byPatient.get(patient) ?? new Set()).add(line.slice(-1)));
    }
    expect(byPatient.size).toBe(10);
    for (const labels of byPatient.values()) expect(labels.size).toBe(1);
    const first = lines[0].slice(0, -2);
    expect((await sharp(join(dataset.dataRoot, first)).metadata()).channels).toBe(3);
  });

  it("writes endo lines with 4 space-separated labels and 18-character study ids", async () => {
    const dataset = await generateSyntheticDataset({
      task: "endo",
      outputDir: await freshDir(),
      trainCount: 30,
      valCount: 6,
      imageSize: 24,
      seed: 1,
    });
    const lines = (await readFile(dataset.valAnnotation, "utf8")).trimEnd().split("\n");
    expect(lines).toHaveLength(6);
    for (const line of lines)
      expect(line).toMatch(/^\d{5}_2021\.11_\d{4}_\d{8}\.png [01] [01] [01] [01]$/);
    expect(new Set(lines.map((line) => line.slice(0, 18))).size).toBe(2);
  });
});
