import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../backend/select-backend";
import { createClassifier } from "../../classifier";
import { linearHead } from "../../heads/linear-head";
import { provisionedNativePackage } from "../../native/provisioned-native-backend";
import { readSafetensors, type SafetensorsFile } from "../../weights/safetensors";
import { Swin } from "./swin";
import {
  inferSwinConfig,
  normaliseSwinKey,
  remapOriginalSwinKeys,
  SwinStateDictError,
  swinTensorToNative,
  swinTensorToTorch,
} from "./swin-keys";
import { SWIN_BASE_CONFIG, SWIN_SMALL_CONFIG, SWIN_TINY_CONFIG, swinSpec } from "./swin-spec";
import { relativePositionIndex, shiftedWindowMask } from "./swin-windows";

// Fixtures: scripts/fixtures/models/swin/make-swin-fixtures.py small (timm 1.0.31, torch 2.15).
const fixtures = fileURLToPath(new URL("./__fixtures__/", import.meta.url));
const TOLERANCE = 1e-4;
const repoRoot = fileURLToPath(new URL("../../../../../", import.meta.url));
const script = `${repoRoot}scripts/fixtures/models/swin/make-swin-fixtures.py`;
const generated = `${repoRoot}packages/models/fixtures-generated/swin/`;
/** A Python with torch, timm and safetensors (scripts/fixtures/models/install-timm.sh). */
const timmPython = process.env.MEDFM_TIMM_PYTHON || `${repoRoot}.venv-timm/bin/python`;

function timmAvailable(): boolean {
  if (!existsSync(timmPython)) return false;
  try {
    execFileSync(timmPython, ["-c", "import torch, timm, safetensors"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const nativePackage = provisionedNativePackage();
const backends = (nativePackage ? ["cpu", "wasm", "tensorflow"] : ["cpu", "wasm"]) as Array<
  "cpu" | "wasm" | "tensorflow"
>;
const backendEnv = {
  ...process.env,
  ...(nativePackage ? { MEDFM_TFJS_NODE_PATH: nativePackage } : {}),
};

afterAll(async () => {
  await selectBackend({ backend: "cpu", log: () => {} });
});

interface Fixture {
  weights: SafetensorsFile;
  io: SafetensorsFile;
  imgSize: number;
}

async function readFixture(name: string, folder = fixtures): Promise<Fixture> {
  const weights = await readSafetensors(`${folder}${name}.weights.safetensors`);
  const io = await readSafetensors(`${folder}${name}.io.safetensors`);
  const config = JSON.parse(weights.metadata.config) as { img_size: number };
  return { weights, io, imgSize: config.img_size };
}

function ioTensor(file: SafetensorsFile, key: string): tf.Tensor {
  const tensor = file.tensors.get(key);
  if (tensor === undefined) throw new Error(`fixture lacks ${key}`);
  return tf.tensor(tensor.values as Float32Array, tensor.shape);
}

/** Builds the backbone the fixture's shapes describe and loads its backbone tensors. */
function loadFixture({ weights, imgSize }: Fixture): Swin {
  const shapes = new Map<string, number[]>();
  for (const [key, tensor] of weights.tensors) {
    const native = normaliseSwinKey(key);
    if (native !== undefined) shapes.set(native, tensor.shape);
  }
  const backbone = swinSpec.create(inferSwinConfig(shapes, { imgSize })) as Swin;
  const variables = backbone.namedVariables();
  for (const [key, tensor] of weights.tensors) {
    if (key.startsWith(swinSpec.weights.headPrefix)) continue;
    const variable = variables.get(key);
    if (variable === undefined) throw new Error(`no variable for ${key}`);
    const native = swinSpec.weights.toNative(key, tensor.values as Float32Array, tensor.shape);
    expect(native.shape).toEqual(variable.shape);
    tf.tidy(() => variable.assign(tf.tensor(native.values, native.shape)));
  }
  // Every backbone variable came from the file, nothing more.
  const fileKeys = [...weights.tensors.keys()].filter((key) => !key.startsWith("head.fc."));
  expect([...variables.keys()].sort()).toEqual(fileKeys.sort());
  return backbone;
}

function maxAbsDifference(actual: tf.Tensor, expected: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]);
}

const FIXTURES = ["swin-w7", "swin-w4-pad"] as const;

describe.each(backends)("prompted Swin (MedFM's VPT) on %s", (backend) => {
  // scripts/fixtures/models/swin/make-prompted-swin-fixture.py: MedFM's prompted window
  // attention, patch merging and pooling written on timm's modules, 3 prompts, batch 2.
  it("matches the prompted reference (shifted, masked, padded windows, merging), image by image", async () => {
    await selectBackend({ backend, env: backendEnv, log: () => {} });
    const fixture = await readFixture("swin-w4-pad");
    const io = await readSafetensors(`${fixtures}swin-w4-pad-prompted.io.safetensors`);
    const plain = loadFixture(fixture);
    const prompted = swinSpec.create({ ...plain.config, promptTokens: 3 }) as Swin;
    const variables = prompted.namedVariables();
    for (const [key, variable] of plain.namedVariables()) variables.get(key)?.assign(variable);
    const promptTensor = ioTensor(io, "prompts");
    variables.get("prompt_embeddings")?.assign(promptTensor);
    const input = ioTensor(io, "input") as tf.Tensor4D;
    const expected = ioTensor(io, "pooled");
    const pooled = prompted.forward(input, { training: false });
    expect(maxAbsDifference(pooled, expected)).toBeLessThan(TOLERANCE);
    // The prompts matter: without them the features are timm's, far from these.
    const unprompted = plain.forward(input, { training: false });
    expect(maxAbsDifference(unprompted, expected)).toBeGreaterThan(0.01);
    // Each image attends to its own prompts only: alone, the second image gives the same row.
    const second = tf.slice(input, [1, 0, 0, 0], [1, -1, -1, -1]);
    const alone = prompted.forward(second, { training: false });
    expect(maxAbsDifference(alone, tf.slice(pooled, [1, 0], [1, -1]))).toBeLessThan(1e-5);
    tf.dispose([promptTensor, input, expected, pooled, unprompted, second, alone]);
    plain.dispose();
    prompted.dispose();
  });
});

describe.each(backends)("timm Swin parity on %s", (backend) => {
  it.each(FIXTURES)("%s: pooled features and the final feature map match timm", async (name) => {
    await selectBackend({ backend, env: backendEnv, log: () => {} });
    const fixture = await readFixture(name);
    const backbone = loadFixture(fixture);
    const input = ioTensor(fixture.io, "input") as tf.Tensor4D;
    const expectedMap = ioTensor(fixture.io, "feature_map");
    const expectedPooled = ioTensor(fixture.io, "pooled");
    const map = backbone.featureMap(input, { training: false });
    const pooled = backbone.forward(input, { training: false });
    expect(map.shape).toEqual(expectedMap.shape);
    expect(pooled.shape).toEqual([2, backbone.numFeatures]);
    expect(maxAbsDifference(map, expectedMap)).toBeLessThan(TOLERANCE);
    expect(maxAbsDifference(pooled, expectedPooled)).toBeLessThan(TOLERANCE);
    tf.dispose([input, expectedMap, expectedPooled, map, pooled]);
    backbone.dispose();
  });

  it.each(FIXTURES)("%s: gradients of every parameter match timm's autograd", async (name) => {
    await selectBackend({ backend, env: backendEnv, log: () => {} });
    const fixture = await readFixture(name);
    const backbone = loadFixture(fixture);
    const input = ioTensor(fixture.io, "input") as tf.Tensor4D;
    const lossWeights = ioTensor(fixture.io, "loss_weights");
    const trainable = backbone.namedTrainableVariables();
    const { grads, value } = tf.variableGrads(
      () => tf.sum(tf.mul(backbone.forward(input, { training: true }), lossWeights)) as tf.Scalar,
      [...trainable.values()],
    );
    const byName = new Map([...trainable].map(([key, variable]) => [variable.name, key]));
    const expectedKeys = [...fixture.io.tensors.keys()]
      .filter((key) => key.startsWith("grad."))
      .map((key) => key.slice("grad.".length));
    expect(
      Object.keys(grads)
        .map((variableName) => byName.get(variableName))
        .sort(),
    ).toEqual(expectedKeys.sort());
    for (const [variableName, gradient] of Object.entries(grads)) {
      const key = byName.get(variableName) as string;
      const torch = swinTensorToTorch(key, gradient.dataSync() as Float32Array, gradient.shape);
      const expected = fixture.io.tensors.get(`grad.${key}`);
      expect(torch.shape, key).toEqual(expected?.shape);
      const reference = expected?.values as Float32Array;
      let scale = 1;
      let difference = 0;
      reference.forEach((entry, index) => {
        scale = Math.max(scale, Math.abs(entry));
        difference = Math.max(difference, Math.abs(entry - torch.values[index]));
      });
      // Every gradient is non-zero somewhere (gradients reach every trainable tensor).
      expect(Math.max(...torch.values.map(Math.abs)), key).toBeGreaterThan(0);
      expect(difference / scale, key).toBeLessThan(TOLERANCE);
    }
    tf.dispose([input, lossWeights, value, ...Object.values(grads)]);
    backbone.dispose();
  });
});

describe("timm swin_tiny_patch4_window7_224 parity", () => {
  if (!timmAvailable()) {
    it.skip(`needs ${timmPython} (or MEDFM_TIMM_PYTHON) with torch, timm and safetensors to build the reference; see scripts/fixtures/models/install-timm.sh`, () => {});
    return;
  }
  it.each(backends)(
    "reproduces Swin-T's pooled features at 224 px on %s",
    async (backend) => {
      const reference = `${generated}swin-tiny-patch4-window7.io.safetensors`;
      // Rebuild when missing or older than the script that makes it.
      if (!existsSync(reference) || statSync(reference).mtimeMs < statSync(script).mtimeMs) {
        execFileSync(timmPython, [script, "full", generated], { stdio: "inherit" });
      }
      await selectBackend({ backend, env: backendEnv, log: () => {} });
      const fixture = await readFixture("swin-tiny-patch4-window7", generated);
      const backbone = loadFixture(fixture);
      expect(backbone.config).toMatchObject({
        embedDim: 96,
        depths: [2, 2, 6, 2],
        numHeads: [3, 6, 12, 24],
        windowSize: [7, 7, 7, 7],
      });
      const input = ioTensor(fixture.io, "input") as tf.Tensor4D;
      const expected = ioTensor(fixture.io, "pooled");
      const pooled = backbone.forward(input, { training: false });
      expect(pooled.shape).toEqual([2, 768]);
      expect(maxAbsDifference(pooled, expected)).toBeLessThan(TOLERANCE);
      tf.dispose([input, expected, pooled]);
      backbone.dispose();
      // Full-size on the cpu backend took 60–150 s on 2 busy CI cores; the default 120 s was too tight.
    },
    600_000,
  );
});

describe("swin windows", () => {
  it("indexes the relative position bias table as timm's get_relative_position_index", () => {
    // torch: get_relative_position_index(2, 2) and the first 12 entries for (2, 3).
    expect([...relativePositionIndex([2, 2])]).toEqual([
      4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4,
    ]);
    expect([...relativePositionIndex([2, 3]).slice(0, 12)]).toEqual([
      7, 6, 5, 2, 1, 0, 8, 7, 6, 3, 2, 1,
    ]);
  });

  it("builds timm's attention mask, including its slice rule for a zero shift on one side", () => {
    // timm 1.0.31: SwinTransformerBlock(input_resolution=(4, 6), window_size=2,
    // shift_size=(1, 0)).attn_mask != 0, flattened; [6 windows, 4, 4].
    const expected =
      "000000000000000000000000000000000000000000000000001100111100110000110011110011000011001111001100";
    const mask = shiftedWindowMask(4, 6, [2, 2], [1, 0]);
    expect([...mask].map((value) => (value === 0 ? "0" : "1")).join("")).toBe(expected);
    expect(new Set(mask)).toEqual(new Set([0, -100]));
  });
});

describe("swin keys and configuration", () => {
  it("infers each fixture's configuration from its state dict", async () => {
    const { weights } = await readFixture("swin-w4-pad");
    const shapes = new Map([...weights.tensors].map(([key, tensor]) => [key, tensor.shape]));
    expect(inferSwinConfig(shapes, { imgSize: 36 })).toEqual({
      embedDim: 8,
      depths: [2, 2],
      numHeads: [2, 2],
      imgSize: 36,
      patchSize: 4,
      windowSize: 4,
      mlpRatio: 2,
      qkvBias: true,
    });
  });

  it("refuses a state dict without a stage's relative position bias table, naming the key", async () => {
    const { weights } = await readFixture("swin-w7");
    const shapes = new Map([...weights.tensors].map(([key, tensor]) => [key, tensor.shape]));
    shapes.delete("layers.1.blocks.0.attn.relative_position_bias_table");
    expect(() => inferSwinConfig(shapes, { source: "broken.safetensors" })).toThrow(
      SwinStateDictError,
    );
    expect(() => inferSwinConfig(shapes, { source: "broken.safetensors" })).toThrow(
      "broken.safetensors: not a timm Swin Transformer state dict, layers.1.blocks.0.attn.relative_position_bias_table is missing",
    );
  });

  it("drops the buffers timm recomputes and a DataParallel prefix", () => {
    expect(normaliseSwinKey("module.layers.0.blocks.1.attn_mask")).toBeUndefined();
    expect(normaliseSwinKey("layers.2.blocks.0.attn.relative_position_index")).toBeUndefined();
    expect(normaliseSwinKey("module.norm.weight")).toBe("norm.weight");
    expect(normaliseSwinKey("head.fc.weight")).toBe("head.fc.weight");
  });

  it("renames the original Microsoft layout as timm's checkpoint_filter_fn does", () => {
    const original = new Map([
      ["layers.0.downsample.reduction.weight", 1],
      ["layers.2.downsample.norm.bias", 2],
      ["layers.1.blocks.0.norm1.weight", 3],
      ["head.weight", 4],
    ]);
    expect([...remapOriginalSwinKeys(original)]).toEqual([
      ["layers.1.downsample.reduction.weight", 1],
      ["layers.3.downsample.norm.bias", 2],
      ["layers.1.blocks.0.norm1.weight", 3],
      ["head.fc.weight", 4],
    ]);
    const timm = new Map([
      ["layers.1.downsample.reduction.weight", 1],
      ["head.fc.weight", 2],
    ]);
    expect([...remapOriginalSwinKeys(timm)]).toEqual([...timm]);
  });

  it("converts torch layouts both ways", () => {
    const conv = Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, index) => index);
    const native = swinTensorToNative("patch_embed.proj.weight", conv, [2, 3, 2, 2]);
    expect(native.shape).toEqual([2, 2, 3, 2]);
    // torch [o=1, i=2, y=1, x=0] is native [y=1, x=0, i=2, o=1].
    expect(native.values[((1 * 2 + 0) * 3 + 2) * 2 + 1]).toBe(conv[((1 * 3 + 2) * 2 + 1) * 2 + 0]);
    expect(swinTensorToTorch("patch_embed.proj.weight", native.values, native.shape)).toEqual({
      values: conv,
      shape: [2, 3, 2, 2],
    });
    const linear = swinTensorToNative(
      "layers.0.blocks.0.attn.qkv.weight",
      conv.slice(0, 6),
      [2, 3],
    );
    expect(linear).toEqual({ values: Float32Array.from([0, 3, 1, 4, 2, 5]), shape: [3, 2] });
    const table = swinTensorToNative(
      "layers.0.blocks.0.attn.relative_position_bias_table",
      conv.slice(0, 6),
      [3, 2],
    );
    expect(table.shape).toEqual([3, 2]);
  });
});

describe("swin backbone", () => {
  it("has timm's parameter count and feature width for Swin-T", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    // timm 1.0.31: sum(p.numel()) of swin_tiny_patch4_window7_224 is 28,288,354 with its
    // 1000-class head.fc (768·1000 + 1000). Swin-S and Swin-B (49,606,258 and 87,768,224) are
    // left out to keep the test light; their presets differ only in depths, width and heads.
    const backbone = new Swin(SWIN_TINY_CONFIG);
    const count = [...backbone.namedVariables().values()].reduce((sum, v) => sum + v.size, 0);
    expect(count).toBe(28_288_354 - 769_000);
    expect(backbone.numFeatures).toBe(768);
    backbone.dispose();
  });

  it("offers timm's Swin-T, Swin-S and Swin-B arguments as presets", () => {
    // timm swin_{tiny,small,base}_patch4_window7_224 model_args.
    expect(swinSpec.presets.map((preset) => preset.config)).toEqual([
      SWIN_TINY_CONFIG,
      SWIN_SMALL_CONFIG,
      SWIN_BASE_CONFIG,
    ]);
    expect(SWIN_SMALL_CONFIG).toMatchObject({
      embedDim: 96,
      depths: [2, 2, 18, 2],
      numHeads: [3, 6, 12, 24],
    });
    expect(SWIN_BASE_CONFIG).toMatchObject({
      embedDim: 128,
      depths: [2, 2, 18, 2],
      numHeads: [4, 8, 16, 32],
    });
    expect(swinSpec.preprocessing).toMatchObject({
      inputSize: 224,
      interpolation: "bicubic",
      crop: 0.9,
    });
  });

  it("freezes patch_embed and all but the last stages, and unfreezes everything", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    const backbone = loadFixture(await readFixture("swin-w7"));
    expect(backbone.stageNames).toEqual(["layers.0", "layers.1"]);
    backbone.freezeStages(1);
    const trainable = [...backbone.namedTrainableVariables().keys()];
    expect(trainable.every((key) => key.startsWith("layers.1.") || key.startsWith("norm."))).toBe(
      true,
    );
    expect(trainable).toContain("layers.1.downsample.reduction.weight");
    expect(trainable).toContain("norm.weight");
    backbone.freezeStages(0);
    expect(backbone.namedTrainableVariables().size).toBe(0);
    backbone.unfreezeAll();
    expect(backbone.namedTrainableVariables().size).toBe(backbone.namedVariables().size);
    expect(() => backbone.freezeStages(3)).toThrow("has 2 stages, cannot unfreeze 3");
    backbone.dispose();
  });

  it("trains under a classifier: the loss falls, frozen stages stay as loaded", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    const fixture = await readFixture("swin-w4-pad");
    const model = createClassifier({
      backbone: loadFixture(fixture),
      head: linearHead({ numClasses: 2, kind: "multi-class" }),
    });
    model.unfreezeLastBlocks(1);
    const before = new Map(
      [...model.backbone.namedVariables()].map(([key, v]) => [key, tf.clone(v)]),
    );
    const input = ioTensor(fixture.io, "input") as tf.Tensor4D;
    const labels = tf.oneHot([0, 1], 2);
    const optimizer = tf.train.adam(0.01);
    const losses: number[] = [];
    for (let step = 0; step < 8; step += 1) {
      const loss = optimizer.minimize(
        () =>
          tf.losses.softmaxCrossEntropy(
            labels,
            model.forward(input, { training: true }),
          ) as tf.Scalar,
        true,
        model.trainableVariables(),
      ) as tf.Scalar;
      losses.push(loss.dataSync()[0]);
      loss.dispose();
    }
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.5);
    for (const [key, variable] of model.backbone.namedVariables()) {
      const moved = maxAbsDifference(variable, before.get(key) as tf.Tensor) > 0;
      const trains = key.startsWith("layers.1.") || key.startsWith("norm.");
      expect(moved, key).toBe(trains);
    }
    tf.dispose([input, labels, ...before.values()]);
    optimizer.dispose();
    model.dispose();
  });

  it("drops residual branches per sample in training only, and never in frozen stages", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    const backbone = new Swin({
      embedDim: 8,
      depths: [2, 2],
      numHeads: [2, 2],
      imgSize: 16,
      windowSize: 2,
      dropPathRate: 0.5,
    });
    const images = tf.randomNormal([4, 16, 16, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    const evaluation = backbone.forward(images, { training: false });
    const again = backbone.forward(images, { training: false });
    const training = backbone.forward(images, { training: true });
    expect(maxAbsDifference(evaluation, again)).toBe(0);
    expect(maxAbsDifference(evaluation, training)).toBeGreaterThan(1e-3);
    backbone.freezeStages(0);
    const frozen = backbone.forward(images, { training: true });
    expect(maxAbsDifference(evaluation, frozen)).toBe(0);
    tf.dispose([images, evaluation, again, training, frozen]);
    backbone.dispose();
  });

  it("records a configuration that rebuilds the same backbone", () => {
    const backbone = new Swin({
      embedDim: 8,
      depths: [2, 2],
      numHeads: [2, 2],
      imgSize: 36,
      windowSize: 4,
      seed: 3,
    });
    const rebuilt = swinSpec.create(backbone.metadata().config as never) as Swin;
    expect(rebuilt.config).toEqual(backbone.config);
    const first = backbone.namedVariables();
    for (const [key, variable] of rebuilt.namedVariables()) {
      expect(maxAbsDifference(variable, first.get(key) as tf.Variable), key).toBe(0);
    }
    backbone.dispose();
    rebuilt.dispose();
  });

  it("refuses images whose sides are not multiples of the patch size", () => {
    const backbone = new Swin({
      embedDim: 8,
      depths: [2],
      numHeads: [2],
      imgSize: 16,
      windowSize: 2,
    });
    const images = tf.zeros([1, 18, 16, 3]) as tf.Tensor4D;
    expect(() => backbone.forward(images, { training: false })).toThrow(
      "image sides must be multiples of the patch size 4, got 18 × 16",
    );
    images.dispose();
    backbone.dispose();
  });
});
