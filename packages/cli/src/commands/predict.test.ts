import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { colonTask, generateSyntheticDataset, readAnnotationFile } from "@medfm/data";
import {
  createClassifier,
  densenet,
  type LoaderResize,
  linearHead,
  loadClassifier,
  predictImages,
  promptedClassifier,
  saveClassifier,
  saveVisualPrompt,
  visualPrompt,
} from "@medfm/models";
import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMedfm } from "../testing/run-medfm";

let root: string;
let dataRoot: string;
let valAnnotation: string;
let valNames: string[];
let modelDir: string;

function parseCsv(text: string): { names: string[]; rows: number[][] } {
  const lines = text.split("\n");
  expect(lines.at(-1)).toBe("");
  const names: string[] = [];
  const rows: number[][] = [];
  for (const line of lines.slice(0, -1)) {
    const [name, ...scores] = line.split(",");
    names.push(name);
    rows.push(scores.map(Number));
  }
  return { names, rows };
}

beforeAll(async () => {
  process.env.MEDFM_BACKEND = "cpu";
  root = await mkdtemp(join(tmpdir(), "medfm-predict-cli-"));
  const dataset = await generateSyntheticDataset({
    task: "colon",
    outputDir: join(root, "data"),
    trainCount: 4,
    valCount: 6,
    imageSize: 24,
    seed: 2,
  });
  dataRoot = dataset.dataRoot;
  valAnnotation = dataset.valAnnotation;
  valNames = (await readAnnotationFile(valAnnotation, { task: colonTask })).samples.map(
    (sample) => sample.name,
  );
  await tf.setBackend("cpu");
  const model = createClassifier({
    backbone: densenet({
      growthRate: 4,
      blockConfig: [2, 2],
      numInitFeatures: 8,
      bnSize: 2,
      seed: 4,
    }),
    head: linearHead({ numClasses: 2, kind: "multi-class", classes: colonTask.classes, seed: 4 }),
  });
  modelDir = join(root, "model");
  await saveClassifier(model, modelDir, { metadata: { imageSize: 16, task: "colon" } });
  model.dispose();
});

afterAll(async () => {
  delete process.env.MEDFM_BACKEND;
  await rm(root, { recursive: true, force: true });
});

async function expectedScores(tta: "none" | "flip", names = valNames, withPrompt?: string) {
  const classifier = await loadClassifier(modelDir);
  const prompt = withPrompt
    ? await (await import("@medfm/models")).loadVisualPrompt(withPrompt)
    : undefined;
  const result = await predictImages({
    model: prompt ? promptedClassifier(classifier, prompt) : classifier,
    dataRoot,
    names,
    preprocessing: { imageSize: 16 },
    tta,
  });
  classifier.dispose();
  prompt?.dispose();
  return result;
}

describe("medfm predict", () => {
  it("writes one name,score,score line per annotated image, the model's softmax scores", async () => {
    const output = join(root, "out", "colon.csv");
    const text = await runMedfm([
      "predict",
      "--task",
      "colon",
      "--weights",
      modelDir,
      "--data-root",
      dataRoot,
      "--ann",
      valAnnotation,
      "--output",
      output,
    ]);
    expect(text).toContain(`Scored ${valNames.length} images (2 colon classes, 16 px)`);
    const { names, rows } = parseCsv(await readFile(output, "utf8"));
    expect(names).toEqual(valNames);
    const expected = await expectedScores("none");
    rows.forEach((row, index) => {
      expect(row).toHaveLength(2);
      expect(row[0] + row[1]).toBeCloseTo(1, 5);
      expect(row[0]).toBeCloseTo(expected.scores[index * 2], 6);
      expect(row[1]).toBeCloseTo(expected.scores[index * 2 + 1], 6);
    });
  });

  it("reads a name-only list, a whole folder, or files, and averages mirrors with --tta flip", async () => {
    const list = join(root, "names.txt");
    const chosen = valNames.slice(0, 3);
    await writeFile(list, `${chosen.join("\n")}\n`);
    const output = join(root, "list.csv");
    await runMedfm([
      "predict",
      "--task",
      "colon",
      "--weights",
      modelDir,
      "--data-root",
      dataRoot,
      "--ann",
      list,
      "--output",
      output,
      "--tta",
      "flip",
    ]);
    const flipped = parseCsv(await readFile(output, "utf8"));
    expect(flipped.names).toEqual(chosen);
    const expected = await expectedScores("flip", chosen);
    const plain = await expectedScores("none", chosen);
    let change = 0;
    flipped.rows.forEach((row, index) => {
      expect(row[1]).toBeCloseTo(expected.scores[index * 2 + 1], 6);
      change = Math.max(change, Math.abs(row[1] - plain.scores[index * 2 + 1]));
    });
    expect(change).toBeGreaterThan(1e-6);

    const folder = join(root, "folder.csv");
    await runMedfm([
      "predict",
      "--task",
      "colon",
      "--weights",
      modelDir,
      "--data-root",
      dataRoot,
      "--output",
      folder,
    ]);
    const all = parseCsv(await readFile(folder, "utf8")).names;
    expect(all).toHaveLength(10);
    expect(all).toEqual([...all].sort());

    const files = join(root, "files.csv");
    await runMedfm([
      "predict",
      join(dataRoot, chosen[0]),
      join(dataRoot, chosen[1]),
      "--task",
      "colon",
      "--weights",
      modelDir,
      "--output",
      files,
    ]);
    expect(parseCsv(await readFile(files, "utf8")).names).toEqual(chosen.slice(0, 2));
  });

  it("resizes as model.json says by default, and stretches or centre-crops with --resize", async () => {
    // Landscape copies of three val images, so a centre crop and a stretch see different pixels.
    const wide = join(root, "wide");
    await mkdir(wide, { recursive: true });
    const chosen = valNames.slice(0, 3);
    const names = chosen.map((_, index) => `wide-${index}.png`);
    await Promise.all(
      chosen.map((name, index) =>
        sharp(join(dataRoot, name))
          .resize(36, 20, { fit: "fill" })
          .png()
          .toFile(join(wide, names[index] as string)),
      ),
    );
    const run = async (mode?: string) => {
      const output = join(root, `wide-${mode ?? "default"}.csv`);
      const summary = JSON.parse(
        await runMedfm([
          "predict",
          ...names.map((name) => join(wide, name)),
          "--task",
          "colon",
          "--weights",
          modelDir,
          "--output",
          output,
          "--json",
          ...(mode ? ["--resize", mode] : []),
        ]),
      );
      return { summary, rows: parseCsv(await readFile(output, "utf8")).rows.flat() };
    };
    const reference = async (resize: LoaderResize) => {
      const classifier = await loadClassifier(modelDir);
      const result = await predictImages({
        model: classifier,
        dataRoot: wide,
        names,
        preprocessing: { imageSize: 16, resize },
      });
      classifier.dispose();
      return [...result.scores];
    };
    const close = (actual: number[], expected: number[]) => {
      expect(actual).toHaveLength(expected.length);
      for (const [index, value] of actual.entries()) {
        expect(value).toBeCloseTo(expected[index] as number, 6);
      }
    };

    // DenseNet's ImageNet default records crop 1 and bilinear: a stretch, as mmpretrain's Resize.
    const byWeights = await run();
    expect(byWeights.summary.resize).toEqual({ mode: "exact", kernel: "linear" });
    const stretched = await run("stretch");
    expect(stretched.summary.resize).toEqual({ mode: "exact", kernel: "linear" });
    close(byWeights.rows, stretched.rows);
    close(stretched.rows, await reference({ mode: "exact" }));

    const cropped = await run("center-crop");
    const centre = {
      mode: "short-side-crop",
      convention: "torchvision",
      shortSide: 16,
      kernel: "linear",
    } as const;
    expect(cropped.summary.resize).toEqual(centre);
    close(cropped.rows, await reference(centre));
    const moved = Math.max(
      ...cropped.rows.map((value, i) => Math.abs(value - (stretched.rows[i] ?? 0))),
    );
    expect(moved).toBeGreaterThan(1e-6);

    await expect(run("fit")).rejects.toThrow(/--resize.*fit.*weights, stretch, center-crop/s);
  });

  it("finds the best checkpoint of a train folder and applies a saved visual prompt", async () => {
    const trainFolder = join(root, "trained");
    const best = join(trainFolder, "best");
    await mkdir(best, { recursive: true });
    const model = await loadClassifier(modelDir);
    await saveClassifier(model, best, { metadata: { imageSize: 16 } });
    model.dispose();
    const prompt = visualPrompt({ imageSize: 16, padding: 2, initStd: 1, seed: 1 });
    const promptPath = join(best, "prompt.safetensors");
    await saveVisualPrompt(prompt, promptPath);
    prompt.dispose();
    const output = join(root, "prompted.csv");
    const text = await runMedfm([
      "predict",
      "--task",
      "colon",
      "--weights",
      trainFolder,
      "--data-root",
      dataRoot,
      "--ann",
      valAnnotation,
      "--output",
      output,
      "--json",
    ]);
    expect(JSON.parse(text)).toMatchObject({ images: 6, prompt: true, model: best });
    const { rows } = parseCsv(await readFile(output, "utf8"));
    const expected = await expectedScores("none", valNames, promptPath);
    const plain = await expectedScores("none");
    rows.forEach((row, index) => {
      expect(row[1]).toBeCloseTo(expected.scores[index * 2 + 1], 6);
    });
    expect(rows.some((row, index) => Math.abs(row[1] - plain.scores[index * 2 + 1]) > 1e-4)).toBe(
      true,
    );
  });

  it("refuses a model whose head does not fit the task, naming both", async () => {
    await expect(
      runMedfm([
        "predict",
        "--task",
        "endo",
        "--weights",
        modelDir,
        "--data-root",
        dataRoot,
        "--output",
        join(root, "x.csv"),
      ]),
    ).rejects.toThrow(/multi-class head with 2 classes; task endo is multi-label with 4/);
  });
});
