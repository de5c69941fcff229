import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadClassifier, readSafetensors } from "@medfm/models";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { runMedfm } from "../testing/run-medfm";

const fixtures = fileURLToPath(new URL("../../../models/src/__fixtures__/", import.meta.url));
const weights = `${fixtures}densenet-small.weights.safetensors`;

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("medfm models convert", () => {
  it("converts a torchvision state dict whose logits survive the round trip", async () => {
    const output = mkdtempSync(join(tmpdir(), "medfm-models-cli-"));
    const text = await runMedfm([
      "models",
      "convert",
      "--from",
      "torchvision",
      "--input",
      weights,
      "--output",
      output,
    ]);
    expect(text).toContain("Converted densenet (");
    expect(text).toContain("Head: multi-class linear, 5 classes");
    expect(text).toContain(`Wrote ${join(output, "model.json")}`);
    const io = await readSafetensors(`${fixtures}densenet-small.io.safetensors`);
    const input = io.tensors.get("input");
    const expected = io.tensors.get("logits_eval");
    if (input === undefined || expected === undefined) throw new Error("fixture incomplete");
    const model = await loadClassifier(output);
    const logits = model.predict(
      tf.tensor4d(input.values, input.shape as [number, number, number, number]),
    );
    const difference = tf.max(tf.abs(tf.sub(logits, tf.tensor(expected.values, expected.shape))));
    expect(difference.dataSync()[0]).toBeLessThan(1e-4);
    model.dispose();

    const info = JSON.parse(await runMedfm(["models", "info", output, "--json"]));
    expect(info).toMatchObject({
      backbone: "densenet",
      head: "linear",
      task: "multi-class",
      numClasses: 5,
    });
  });

  it("keeps the backbone and starts a new head for another class list", async () => {
    const output = mkdtempSync(join(tmpdir(), "medfm-models-cli-"));
    const summary = JSON.parse(
      await runMedfm([
        "models",
        "convert",
        "--from",
        "timm",
        "--input",
        weights,
        "--output",
        output,
        "--task",
        "multi-label",
        "--classes",
        "effusion,nodule,mass",
        "--json",
      ]),
    );
    expect(summary).toMatchObject({ newHead: true, task: "multi-label", numClasses: 3 });
    const text = await runMedfm(["models", "info", output]);
    expect(text).toContain("head: linear, multi-label, 3 classes (effusion, nodule, mass)");
  });

  it("names the input file when it is not a DenseNet state dict", async () => {
    await expect(
      runMedfm([
        "models",
        "convert",
        "--from",
        "torchvision",
        "--input",
        `${fixtures}densenet-small.io.safetensors`,
        "--output",
        mkdtempSync(join(tmpdir(), "medfm-models-cli-")),
      ]),
    ).rejects.toThrow(/densenet-small\.io\.safetensors: not a torchvision DenseNet state dict/);
  });
});

describe("medfm models list", () => {
  it("lists the registered backbones with their presets and preprocessing", async () => {
    const listed = JSON.parse(await runMedfm(["models", "list", "--json"]));
    const densenet = listed.find((backbone: { type: string }) => backbone.type === "densenet");
    expect(densenet.presets.map((preset: { name: string }) => preset.name)).toEqual([
      "densenet121",
      "densenet169",
      "densenet201",
      "densenet-tiny",
    ]);
    expect(densenet.preprocessing).toMatchObject({ mean: [0.485, 0.456, 0.406], inputSize: 224 });
    const text = await runMedfm(["models", "list"]);
    expect(text).toContain("densenet (224 px, mean 0.485/0.456/0.406, std 0.229/0.224/0.225)");
    expect(text).toMatch(/ {2}densenet-tiny +small DenseNet for CPUs/);
  });
});
