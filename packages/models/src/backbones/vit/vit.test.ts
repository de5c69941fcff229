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
import { findPreset, getBackboneSpec } from "../registry";
import { bicubicAntialiasMatrix, bicubicMatrix } from "./resample-position-embedding";
import { Vit, type VitConfig } from "./vit";
import {
  convertVitStateDict,
  detectVitLayout,
  fuseSplitQkv,
  inferVitConfig,
  normaliseVitKey,
  type TorchTensor,
  type VitCheckpointLayout,
  VitStateDictError,
  vitTensorToTorch,
} from "./vit-keys";
import { VIT_PRESETS, vitSpec } from "./vit-spec";

// Fixtures: scripts/fixtures/models/vit/make-vit-fixtures.py small (timm 1.0.31,
// transformers 5.25, torch 2.15).
const fixtures = fileURLToPath(new URL("./__fixtures__/", import.meta.url));
const TOLERANCE = 1e-4;
const repoRoot = fileURLToPath(new URL("../../../../../", import.meta.url));
const script = `${repoRoot}scripts/fixtures/models/vit/make-vit-fixtures.py`;
const generated = `${repoRoot}packages/models/fixtures-generated/vit/`;
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
  layout: VitCheckpointLayout;
  config: Record<string, unknown>;
}

async function readFixture(name: string, folder = fixtures): Promise<Fixture> {
  const weights = await readSafetensors(`${folder}${name}.weights.safetensors`);
  const io = await readSafetensors(`${folder}${name}.io.safetensors`);
  return {
    weights,
    io,
    layout: weights.metadata.layout as VitCheckpointLayout,
    config: JSON.parse(weights.metadata.config) as Record<string, unknown>,
  };
}

function ioTensor(file: SafetensorsFile, key: string): tf.Tensor {
  const tensor = file.tensors.get(key);
  if (tensor === undefined) throw new Error(`fixture lacks ${key}`);
  return tf.tensor(tensor.values as Float32Array, tensor.shape);
}

function torchState(file: SafetensorsFile): Map<string, TorchTensor> {
  return new Map(
    [...file.tensors].map(([key, tensor]) => [
      key,
      { values: tensor.values as Float32Array, shape: tensor.shape },
    ]),
  );
}

/** What the weights cannot say, from the reference's constructor arguments. */
function overrides(fixture: Fixture): Partial<VitConfig> {
  const heads = (fixture.config.num_heads ?? fixture.config.num_attention_heads) as number;
  return {
    numHeads: heads,
    ...(fixture.config.act_layer === "quick_gelu" ? { activation: "quick_gelu" as const } : {}),
  };
}

/** Builds the backbone the fixture's shapes describe and loads its backbone tensors. */
function loadFixture(fixture: Fixture): Vit {
  const state = convertVitStateDict(torchState(fixture.weights), "fixture");
  const shapes = new Map([...state].map(([key, tensor]) => [key, tensor.shape]));
  const layout = detectVitLayout(fixture.weights.tensors.keys());
  expect(layout).toBe(fixture.layout);
  const inferred = inferVitConfig(shapes, { layout, numHeads: overrides(fixture).numHeads });
  const backbone = vitSpec.create({ ...inferred, ...overrides(fixture) }) as Vit;
  const variables = backbone.namedVariables();
  for (const [key, tensor] of state) {
    if (key.startsWith(vitSpec.weights.headPrefix)) continue;
    const variable = variables.get(key);
    if (variable === undefined) throw new Error(`no variable for ${key}`);
    const native = vitSpec.weights.toNative(key, tensor.values, tensor.shape);
    expect(native.shape, key).toEqual(variable.shape);
    tf.tidy(() => variable.assign(tf.tensor(native.values, native.shape)));
  }
  // Every backbone variable came from the file, nothing more.
  const fileKeys = [...state.keys()].filter((key) => !key.startsWith("head."));
  expect([...variables.keys()].sort()).toEqual(fileKeys.sort());
  return backbone;
}

function maxAbsDifference(actual: tf.Tensor, expected: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]);
}

const FIXTURES = [
  "vit-token",
  "vit-avg-reg",
  "vit-dinov2",
  "vit-dynamic",
  "vit-clip",
  "hf-vit",
  "hf-dinov2",
  "hf-clip",
] as const;
const GRADIENT_FIXTURES = ["vit-token", "vit-avg-reg", "vit-dynamic"] as const;

describe.each(backends)("ViT parity with timm and transformers on %s", (backend) => {
  it.each(FIXTURES)("%s: every token and the pooled features match the reference", async (name) => {
    await selectBackend({ backend, env: backendEnv, log: () => {} });
    const fixture = await readFixture(name);
    const backbone = loadFixture(fixture);
    const suffixes = [
      "",
      ...[0, 1].filter((i) => fixture.io.tensors.has(`input.${i}`)).map((i) => `.${i}`),
    ];
    for (const suffix of suffixes) {
      const input = ioTensor(fixture.io, `input${suffix}`) as tf.Tensor4D;
      const expectedTokens = ioTensor(fixture.io, `tokens${suffix}`);
      const expectedPooled = ioTensor(fixture.io, `pooled${suffix}`);
      const tokens = backbone.forwardTokens(input, { training: false });
      const pooled = backbone.forward(input, { training: false });
      expect(tokens.shape).toEqual(expectedTokens.shape);
      expect(pooled.shape).toEqual([2, backbone.numFeatures]);
      expect(maxAbsDifference(tokens, expectedTokens), `tokens${suffix}`).toBeLessThan(TOLERANCE);
      expect(maxAbsDifference(pooled, expectedPooled), `pooled${suffix}`).toBeLessThan(TOLERANCE);
      tf.dispose([input, expectedTokens, expectedPooled, tokens, pooled]);
    }
    backbone.dispose();
  });

  it.each(GRADIENT_FIXTURES)(
    "%s: gradients of every parameter match timm's autograd",
    async (name) => {
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
        const torch = vitTensorToTorch(key, gradient.dataSync() as Float32Array, gradient.shape);
        const expected = fixture.io.tensors.get(`grad.${key}`);
        expect(torch.shape, key).toEqual(expected?.shape);
        const reference = expected?.values as Float32Array;
        let scale = 1;
        let difference = 0;
        reference.forEach((entry, index) => {
          scale = Math.max(scale, Math.abs(entry));
          difference = Math.max(difference, Math.abs(entry - torch.values[index]));
        });
        expect(Math.max(...torch.values.map(Math.abs)), key).toBeGreaterThan(0);
        expect(difference / scale, key).toBeLessThan(TOLERANCE);
      }
      tf.dispose([input, lossWeights, value, ...Object.values(grads)]);
      backbone.dispose();
    },
  );
});

describe("timm vit_small_patch16_224 parity", () => {
  if (!timmAvailable()) {
    it.skip(`needs ${timmPython} (or MEDFM_TIMM_PYTHON) with torch, timm and safetensors to build the reference; see scripts/fixtures/models/install-timm.sh`, () => {});
    return;
  }
  it.each(backends)(
    "reproduces ViT-S/16's pooled features at 224 px on %s",
    async (backend) => {
      const reference = `${generated}vit-small-patch16.io.safetensors`;
      if (!existsSync(reference) || statSync(reference).mtimeMs < statSync(script).mtimeMs) {
        execFileSync(timmPython, [script, "full", generated], { stdio: "inherit" });
      }
      await selectBackend({ backend, env: backendEnv, log: () => {} });
      const fixture = await readFixture("vit-small-patch16", generated);
      fixture.config.num_heads = 6;
      const backbone = loadFixture(fixture);
      expect(backbone.config).toMatchObject({
        embedDim: 384,
        depth: 12,
        numHeads: 6,
        imgSize: 224,
      });
      const input = ioTensor(fixture.io, "input") as tf.Tensor4D;
      const expected = ioTensor(fixture.io, "pooled");
      const pooled = backbone.forward(input, { training: false });
      expect(pooled.shape).toEqual([2, 384]);
      expect(maxAbsDifference(pooled, expected)).toBeLessThan(TOLERANCE);
      tf.dispose([input, expected, pooled]);
      backbone.dispose();
      // Full-size on the cpu backend can take minutes on 2 busy cores.
    },
    600_000,
  );
});

describe("vit keys and configuration", () => {
  it("maps timm, ViTModel, Dinov2Model and CLIP vision keys onto timm's", () => {
    expect(normaliseVitKey("module.blocks.0.attn.qkv.weight")).toBe("blocks.0.attn.qkv.weight");
    expect(normaliseVitKey("vit.embeddings.cls_token")).toBe("cls_token");
    expect(normaliseVitKey("vit.encoder.layer.3.layernorm_before.bias")).toBe(
      "blocks.3.norm1.bias",
    );
    expect(normaliseVitKey("vit.encoder.layer.3.intermediate.dense.weight")).toBe(
      "blocks.3.mlp.fc1.weight",
    );
    expect(normaliseVitKey("vit.encoder.layer.3.output.dense.weight")).toBe(
      "blocks.3.mlp.fc2.weight",
    );
    expect(normaliseVitKey("dinov2.encoder.layer.1.layer_scale2.lambda1")).toBe(
      "blocks.1.ls2.gamma",
    );
    expect(normaliseVitKey("embeddings.mask_token")).toBeUndefined();
    expect(normaliseVitKey("vit.pooler.dense.weight")).toBeUndefined();
    expect(normaliseVitKey("vision_model.pre_layrnorm.weight")).toBe("norm_pre.weight");
    expect(normaliseVitKey("vision_model.post_layernorm.bias")).toBe("norm.bias");
    expect(normaliseVitKey("vision_model.embeddings.position_ids")).toBeUndefined();
    expect(normaliseVitKey("vision_model.encoder.layers.0.self_attn.out_proj.weight")).toBe(
      "blocks.0.attn.proj.weight",
    );
    expect(normaliseVitKey("head.weight")).toBe("head.weight");
    expect(() => normaliseVitKey("encoder.layer.0.attention.attention.query.weight")).toThrow(
      VitStateDictError,
    );
  });

  it("fuses query, key and value in timm's qkv order and names a missing one", () => {
    const part = (value: number) => ({ values: new Float32Array([value, value]), shape: [1, 2] });
    const fused = fuseSplitQkv(
      new Map([
        ["encoder.layer.0.attention.attention.value.weight", part(3)],
        ["encoder.layer.0.attention.attention.query.weight", part(1)],
        ["encoder.layer.0.attention.attention.key.weight", part(2)],
      ]),
    );
    expect(fused.get("encoder.layer.0.attention.attention.qkv.weight")).toEqual({
      values: new Float32Array([1, 1, 2, 2, 3, 3]),
      shape: [3, 2],
    });
    expect(() =>
      fuseSplitQkv(
        new Map([["vision_model.encoder.layers.0.self_attn.q_proj.bias", part(1)]]),
        "x.safetensors",
      ),
    ).toThrow(
      "x.safetensors: not a Vision Transformer state dict this backbone reads, vision_model.encoder.layers.0.self_attn.qkv.bias lacks its k projection",
    );
  });

  it("infers each fixture's configuration from its state dict", async () => {
    const { weights } = await readFixture("vit-avg-reg");
    const shapes = new Map([...weights.tensors].map(([key, tensor]) => [key, tensor.shape]));
    expect(inferVitConfig(shapes, { numHeads: 2 })).toEqual({
      embedDim: 16,
      depth: 2,
      numHeads: 2,
      imgSize: 16,
      patchSize: 4,
      mlpRatio: 2,
      qkvBias: false,
      classToken: true,
      regTokens: 2,
      noEmbedClass: true,
      preNorm: false,
      globalPool: "avg",
      layerNormEps: 1e-6,
      activation: "gelu",
      positionInterpolation: "bicubic-antialias",
      initValues: 1,
    });
    const clip = await readFixture("hf-clip");
    const state = convertVitStateDict(torchState(clip.weights));
    const clipConfig = inferVitConfig(new Map([...state].map(([k, t]) => [k, t.shape])), {
      layout: "hf-clip",
    });
    expect(clipConfig).toMatchObject({
      preNorm: true,
      activation: "quick_gelu",
      layerNormEps: 1e-5,
      imgSize: 16,
    });
  });

  it("refuses a state dict without a patch embedding, naming the file and key", async () => {
    const { weights } = await readFixture("vit-token");
    const shapes = new Map([...weights.tensors].map(([key, tensor]) => [key, tensor.shape]));
    shapes.delete("patch_embed.proj.weight");
    expect(() => inferVitConfig(shapes, { source: "broken.safetensors" })).toThrow(
      "broken.safetensors: not a Vision Transformer state dict this backbone reads, patch_embed.proj.weight is missing",
    );
  });

  it.each([
    ["antialiased", bicubicAntialiasMatrix],
    ["plain", bicubicMatrix],
  ] as const)(
    "interpolates as torch's %s bicubic: identity at equal sizes, rows summing to one",
    (_, resample) => {
      const same = resample(4, 4);
      expect([...same]).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
      for (const [from, to] of [
        [4, 6],
        [6, 3],
      ]) {
        const matrix = resample(from, to);
        for (let row = 0; row < to; row += 1) {
          const sum = matrix.slice(row * from, (row + 1) * from).reduce((a, b) => a + b, 0);
          expect(sum).toBeCloseTo(1, 6);
        }
      }
    },
  );
});

describe("vit backbone", () => {
  it("has timm's parameter count for ViT-S/16 and registers its presets", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    // timm 1.0.31: sum(p.numel()) of vit_small_patch16_224 is 22,050,664 with its 1000-class
    // head (384·1000 + 1000).
    const found = findPreset("vit-small-patch16");
    expect(found?.spec).toBe(vitSpec);
    expect(getBackboneSpec("vit")).toBe(vitSpec);
    expect(getBackboneSpec("swin").type).toBe("swin");
    const backbone = vitSpec.create(found?.preset.config as VitConfig);
    const count = [...backbone.namedVariables().values()].reduce((sum, v) => sum + v.size, 0);
    expect(count).toBe(22_050_664 - 385_000);
    expect(backbone.numFeatures).toBe(384);
    backbone.dispose();
    expect(VIT_PRESETS.map((preset) => preset.name)).toEqual([
      "vit-tiny-patch16",
      "vit-tiny-patch14",
      "vit-small-patch16",
      "vit-small-patch14",
      "vit-base-patch16",
      "vit-base-patch14",
      "vit-large-patch16",
      "vit-large-patch14",
    ]);
  });

  it("pools its feature map as forward does (avg pooling), so Grad-CAM differentiates the real pooling", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    const fixture = await readFixture("vit-avg-reg");
    const backbone = loadFixture(fixture);
    const input = ioTensor(fixture.io, "input") as tf.Tensor4D;
    const map = backbone.featureMap?.(input, { training: false }) as tf.Tensor4D;
    expect(map.shape).toEqual([2, 4, 4, 16]);
    const pooled = backbone.poolFeatureMap?.(map) as tf.Tensor2D;
    const expected = ioTensor(fixture.io, "pooled");
    expect(maxAbsDifference(pooled, expected)).toBeLessThan(TOLERANCE);
    const token = loadFixture(await readFixture("vit-token"));
    expect(token.featureMap).toBeUndefined();
    tf.dispose([input, map, pooled, expected]);
    backbone.dispose();
    token.dispose();
  });

  it.each(backends)(
    "computes only the CLS token through the last block when it pools the token, with forwardTokens' values (%s)",
    async (backend) => {
      await selectBackend({ backend, env: backendEnv, log: () => {} });
      const config = {
        embedDim: 16,
        depth: 3,
        numHeads: 2,
        imgSize: 16,
        patchSize: 4,
        regTokens: 2,
        initValues: 0.5,
        promptTokens: 3,
        deepPrompts: true,
        dropPathRate: 0.4,
        seed: 5,
      };
      const images = tf.randomNormal([3, 16, 16, 3], 0, 1, "float32", 2) as tf.Tensor4D;
      // 1 CLS + 2 registers + 3 prompts + 16 patches; the MLP's hidden width is 64.
      const tokens = 22;
      const hiddenRows = (run: () => tf.Tensor) =>
        tf
          .profile(() => tf.dispose(run()))
          .then((profile) =>
            profile.kernels
              .filter((kernel) => {
                const shape = kernel.outputShapes[0] ?? [];
                return shape.length === 3 && shape[0] === 3 && shape[2] === 64;
              })
              .map((kernel) => (kernel.outputShapes[0] as number[])[1]),
          );
      for (const training of [false, true]) {
        // Two backbones of one seed draw the same drop-path masks, block by block.
        const pooled = new Vit(config);
        const full = new Vit(config);
        const viaForward = pooled.forward(images, { training });
        const viaTokens = full.pool(full.forwardTokens(images, { training }));
        expect(viaForward.shape).toEqual([3, 16]);
        expect(maxAbsDifference(viaForward, viaTokens), `training ${training}`).toBeLessThan(1e-6);
        tf.dispose([viaForward, viaTokens]);
        pooled.dispose();
        full.dispose();
      }
      const backbone = new Vit(config);
      // The MLP's hidden activations: every token in every block but the last, one token there.
      const forwardRows = await hiddenRows(() => backbone.forward(images, { training: false }));
      expect(forwardRows).toContain(1);
      expect(new Set(forwardRows)).toEqual(new Set([tokens, 1]));
      const tokenRows = await hiddenRows(() => backbone.forwardTokens(images, { training: false }));
      expect(new Set(tokenRows)).toEqual(new Set([tokens]));
      // Average pooling reads every patch token, so its last block keeps them all.
      const averaged = new Vit({ ...config, globalPool: "avg" });
      const averagedRows = await hiddenRows(() => averaged.forward(images, { training: false }));
      expect(new Set(averagedRows)).toEqual(new Set([tokens]));
      tf.dispose(images);
      backbone.dispose();
      averaged.dispose();
    },
  );

  it("trains under a classifier: the loss falls, frozen blocks and the stem stay as loaded", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    const fixture = await readFixture("vit-token");
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
      const trains = key.startsWith("blocks.1.") || key.startsWith("norm.");
      expect(moved, key).toBe(trains);
    }
    tf.dispose([input, labels, ...before.values()]);
    optimizer.dispose();
    model.dispose();
  });

  it("drops residual branches in training only, never in frozen blocks, and rebuilds from its metadata", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    const backbone = new Vit({
      embedDim: 16,
      depth: 2,
      numHeads: 2,
      imgSize: 16,
      patchSize: 4,
      dropPathRate: 0.5,
      initValues: 0.1,
      seed: 3,
    });
    const images = tf.randomNormal([4, 16, 16, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    const evaluation = backbone.forward(images, { training: false });
    const training = backbone.forward(images, { training: true });
    expect(maxAbsDifference(evaluation, training)).toBeGreaterThan(1e-4);
    backbone.freezeStages(0);
    const frozen = backbone.forward(images, { training: true });
    expect(maxAbsDifference(evaluation, frozen)).toBe(0);
    const rebuilt = vitSpec.create(backbone.metadata().config as never) as Vit;
    expect(rebuilt.config).toEqual(backbone.config);
    const again = rebuilt.forward(images, { training: false });
    expect(maxAbsDifference(again, evaluation)).toBe(0);
    tf.dispose([images, evaluation, training, frozen, again]);
    backbone.dispose();
    rebuilt.dispose();
  });

  it.each([false, true])(
    "visual prompt tuning (deep %s): only prompts and head change, the loss falls",
    async (deep) => {
      await selectBackend({ backend: "cpu", log: () => {} });
      const fixture = await readFixture("vit-avg-reg");
      const plain = loadFixture(fixture);
      const prompted = vitSpec.create({
        ...(plain.metadata().config as unknown as VitConfig),
        promptTokens: 3,
        deepPrompts: deep,
      }) as Vit;
      const promptKeys = deep
        ? ["prompt_embeddings", "deep_prompt_embeddings"]
        : ["prompt_embeddings"];
      const promptedVariables = prompted.namedVariables();
      for (const [key, variable] of plain.namedVariables()) {
        (promptedVariables.get(key) as tf.Variable).assign(variable);
      }
      expect([...promptedVariables.keys()].filter((key) => key.includes("prompt"))).toEqual(
        promptKeys,
      );
      expect(promptedVariables.get("deep_prompt_embeddings")?.shape).toEqual(
        deep ? [1, 3, 16] : undefined,
      );
      const input = ioTensor(fixture.io, "input") as tf.Tensor4D;
      // The prompts change the features (they attend), and the patch mean leaves them out.
      const tokens = prompted.forwardTokens(input, { training: false });
      expect(tokens.shape).toEqual([2, 3 + 3 + 16, 16]);
      const base = plain.forward(input, { training: false });
      const withPrompts = prompted.forward(input, { training: false });
      expect(maxAbsDifference(base, withPrompts)).toBeGreaterThan(1e-3);
      const model = createClassifier({
        backbone: prompted,
        head: linearHead({ numClasses: 2, kind: "multi-class" }),
      });
      model.unfreezeLastBlocks(0);
      expect([...prompted.namedTrainableVariables().keys()]).toEqual(promptKeys);
      const before = new Map([...prompted.namedVariables()].map(([key, v]) => [key, tf.clone(v)]));
      const labels = tf.oneHot([1, 0], 2);
      const optimizer = tf.train.adam(0.05);
      const losses: number[] = [];
      for (let step = 0; step < 10; step += 1) {
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
      for (const [key, variable] of prompted.namedVariables()) {
        const moved = maxAbsDifference(variable, before.get(key) as tf.Tensor) > 0;
        expect(moved, key).toBe(promptKeys.includes(key));
      }
      // The state dict's shapes rebuild the prompted configuration.
      const shapes = new Map([...prompted.namedVariables()].map(([key, v]) => [key, v.shape]));
      shapes.set("patch_embed.proj.weight", [16, 3, 4, 4]);
      expect(inferVitConfig(shapes, { numHeads: 2 })).toMatchObject({
        promptTokens: 3,
        ...(deep ? { deepPrompts: true } : {}),
      });
      tf.dispose([input, tokens, base, withPrompts, labels, ...before.values()]);
      optimizer.dispose();
      model.dispose();
      plain.dispose();
    },
  );

  it("refuses images whose sides are not multiples of the patch size", () => {
    const backbone = new Vit({ embedDim: 16, depth: 1, numHeads: 2, imgSize: 16, patchSize: 4 });
    const images = tf.zeros([1, 18, 16, 3]) as tf.Tensor4D;
    expect(() => backbone.forward(images, { training: false })).toThrow(
      "image sides must be multiples of the patch size 4, got 18 × 16",
    );
    images.dispose();
    backbone.dispose();
  });
});
