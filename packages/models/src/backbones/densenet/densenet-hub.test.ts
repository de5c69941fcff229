import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../backend/select-backend";
import { fromPretrained } from "../../hub/from-pretrained";
import { createClassifierFromTorch } from "../../weights/load-torch-weights";
import {
  encodeSafetensors,
  readSafetensors,
  type SafetensorsInput,
} from "../../weights/safetensors";
import { DENSENET121_CONFIG, densenet } from "./densenet";

// A timm densenet121 repository as published (timm/densenet121.tv_in1k: torchvision's keys, a
// 1000-class head, pretrained_cfg in config.json) with seeded random values.
const folder = mkdtempSync(join(tmpdir(), "medfm-densenet-hub-"));
const pretrainedCfg = {
  tag: "tv_in1k",
  input_size: [3, 224, 224],
  interpolation: "bicubic",
  crop_pct: 0.875,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  num_classes: 1000,
};

beforeAll(async () => {
  await selectBackend({ backend: "cpu", log: () => {} });
  const reference = densenet(DENSENET121_CONFIG);
  const random = createRandom(4);
  const state = new Map<string, SafetensorsInput>();
  for (const [key, variable] of reference.namedVariables()) {
    const s = variable.shape;
    // HWIO to torch's OIHW.
    const shape = s.length === 4 ? [s[3], s[2], s[0], s[1]] : [...s];
    const values = Float32Array.from({ length: variable.size }, () =>
      key.endsWith("running_var") ? 0.5 + random.next() : (random.next() - 0.5) * 0.2,
    );
    state.set(key, { dtype: "F32", shape, values });
  }
  for (const key of reference.nonTensorState?.().keys() ?? []) {
    state.set(key, { dtype: "I64", shape: [], values: Int32Array.of(0) });
  }
  reference.dispose();
  const head = (n: number) => Float32Array.from({ length: n }, () => random.next() - 0.5);
  state.set("classifier.weight", { dtype: "F32", shape: [1000, 1024], values: head(1024_000) });
  state.set("classifier.bias", { dtype: "F32", shape: [1000], values: head(1000) });
  writeFileSync(join(folder, "model.safetensors"), encodeSafetensors(state));
  writeFileSync(
    join(folder, "config.json"),
    JSON.stringify({
      architecture: "densenet121",
      num_classes: 1000,
      num_features: 1024,
      pretrained_cfg: pretrainedCfg,
    }),
  );
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe("DenseNet from a timm hub repository", () => {
  it("reads timm's densenet121 config.json and weights, with its preprocessing and published head", async () => {
    const pretrained = await fromPretrained(folder, { head: "published" });
    expect(pretrained.spec.type).toBe("densenet");
    expect(pretrained.config).toEqual({ ...DENSENET121_CONFIG, blockConfig: [6, 12, 24, 16] });
    expect(pretrained.preprocessingSource).toBe("pretrained_cfg");
    expect(pretrained.preprocessing).toMatchObject({
      inputSize: 224,
      interpolation: "bicubic",
      crop: 0.875,
    });
    // The same logits as the torch-file loader gives for the same tensors.
    const direct = createClassifierFromTorch(
      await readSafetensors(join(folder, "model.safetensors")),
    );
    const input = tf.randomUniform([1, 32, 32, 3], 0, 1, "float32", 9) as tf.Tensor4D;
    const ours = pretrained.classifier.predict(input);
    const theirs = direct.predict(input);
    expect(ours.shape).toEqual([1, 1000]);
    expect(tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0]).toBe(0);
    tf.dispose([input, ours, theirs]);
    pretrained.classifier.dispose();
    direct.dispose();
  });

  it("names the timm DenseNets it does not read", async () => {
    writeFileSync(join(folder, "config.json"), JSON.stringify({ architecture: "densenet161" }));
    await expect(fromPretrained(folder)).rejects.toThrow(
      /densenet161 is not supported \(densenet121, densenet169, densenet201 are\)/,
    );
  });
});
