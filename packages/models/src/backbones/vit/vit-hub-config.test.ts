import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../backend/select-backend";
import { fromPretrained } from "../../hub/from-pretrained";
import { readSafetensors } from "../../weights/safetensors";
import { swinSpec } from "../swin/swin-spec";
import type { Vit } from "./vit";
import { vitHubSupport } from "./vit-hub-config";
import { convertVitStateDict, detectVitLayout, inferVitConfig } from "./vit-keys";
import { vitSpec } from "./vit-spec";

// The transformers checkpoints of vit.test.ts's parity fixtures (tiny random ViTModel,
// Dinov2Model, CLIPVisionModel built by scripts/fixtures/models/vit/make-vit-fixtures.py, with
// the constructor arguments in their metadata), read as fromPretrained reads a hub snapshot.
const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const MODEL_TYPES = { "hf-vit": "vit", "hf-dinov2": "dinov2", "hf-clip": "clip_vision_model" };

let folder: string;
beforeAll(async () => {
  await selectBackend({ backend: "cpu", log: () => {} });
  folder = await mkdtemp(join(tmpdir(), "medfm-vit-hub-"));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

async function fixtureConfig(name: keyof typeof MODEL_TYPES) {
  const weights = await readSafetensors(`${fixtures}${name}.weights.safetensors`);
  const { transformers: _version, ...args } = JSON.parse(weights.metadata.config);
  return { weights, config: { model_type: MODEL_TYPES[name], ...args } };
}

/**
 * The resolved configuration without the name (it says where it came from) and with LayerScale
 * as present or not: its initial value is overwritten by the loaded gammas.
 */
function resolved(config: object) {
  const backbone = vitSpec.create(config as never) as Vit;
  const { name: _name, initValues, ...rest } = backbone.config;
  backbone.dispose();
  return { ...rest, layerScale: initValues !== undefined };
}

describe("ViT configurations from hub config.json files", () => {
  it.each(Object.keys(MODEL_TYPES) as Array<keyof typeof MODEL_TYPES>)(
    "%s: config.json describes the model its tensors do",
    async (name) => {
      const { weights, config } = await fixtureConfig(name);
      const fromHub = vitHubSupport.configFromHub({ repo: name, config });
      const state = convertVitStateDict(
        new Map(
          [...weights.tensors].map(([key, t]) => [
            key,
            { values: t.values as Float32Array, shape: t.shape },
          ]),
        ),
      );
      const shapes = new Map([...state].map(([key, tensor]) => [key, tensor.shape]));
      const layout = detectVitLayout(weights.tensors.keys());
      const inferred = inferVitConfig(shapes, {
        layout,
        numHeads: config.num_attention_heads as number,
      });
      expect(fromHub).toBeDefined();
      expect(resolved(fromHub as object)).toEqual(resolved(inferred));
    },
  );

  it("reads timm names and model_args, and leaves other architectures to other specs", () => {
    const read = (config: Record<string, unknown>) =>
      vitHubSupport.configFromHub({ repo: "timm/x", config });
    expect(read({ architecture: "vit_small_patch16_224" })).toMatchObject({
      embedDim: 384,
      depth: 12,
      numHeads: 6,
      patchSize: 16,
      imgSize: 224,
    });
    expect(read({ architecture: "vit_base_patch14_reg4_dinov2" })).toMatchObject({
      embedDim: 768,
      patchSize: 14,
      imgSize: 518,
      regTokens: 4,
      noEmbedClass: true,
      initValues: 1e-5,
    });
    expect(
      read({
        architecture: "vit_small_patch16_224",
        model_args: { global_pool: "avg", img_size: 384 },
      }),
    ).toMatchObject({ globalPool: "avg", imgSize: 384 });
    expect(read({ architecture: "swin_tiny_patch4_window7_224" })).toBeUndefined();
    expect(read({ model_type: "swin" })).toBeUndefined();
    expect(() => read({ architecture: "vit_huge_patch14_clip_quickgelu_224" })).toThrow(
      /vit_huge_patch14_clip_quickgelu_224 is not supported/,
    );
    expect(() => read({ model_type: "dinov2", use_swiglu_ffn: true })).toThrow(/SwiGLU/);
    expect(
      swinSpec.hub?.configFromHub({
        repo: "timm/swin",
        config: { architecture: "swin_small_patch4_window7_224.ms_in22k_ft_in1k" },
      }),
    ).toMatchObject({ depths: [2, 2, 18, 2], windowSize: 7, imgSize: 224 });
    expect(
      swinSpec.hub?.configFromHub({
        repo: "timm/swin",
        config: { architecture: "swin_base_patch4_window12_384" },
      }),
    ).toMatchObject({ embedDim: 128, windowSize: 12, imgSize: 384 });
  });

  it.each([
    ["hf-dinov2", {}],
    ["hf-clip", { nest: true }],
  ] as const)(
    "fromPretrained reads the %s checkpoint as published (split q/k/v) and reproduces transformers' output",
    async (name, { nest }: { nest?: boolean }) => {
      const { config } = await fixtureConfig(name);
      const repo = join(folder, name);
      await rm(repo, { recursive: true, force: true });
      await mkdir(repo, { recursive: true });
      // A full CLIPModel config nests the vision tower's settings under vision_config.
      const published = nest
        ? { model_type: "clip", vision_config: { ...config, model_type: undefined } }
        : config;
      await writeFile(join(repo, "config.json"), JSON.stringify(published));
      await copyFile(`${fixtures}${name}.weights.safetensors`, join(repo, "model.safetensors"));
      const pretrained = await fromPretrained(repo);
      expect(pretrained.spec.type).toBe("vit");
      // No preprocessor_config.json: the spec's mean and std at the size config.json states
      // (nested under vision_config for CLIP), not the spec's 224.
      expect(pretrained.preprocessingSource).toBe("spec");
      expect(pretrained.preprocessing).toEqual({
        ...vitSpec.preprocessing,
        inputSize: config.image_size,
      });
      expect(pretrained.report.dropped.every((key) => /mask_token|position_ids/.test(key))).toBe(
        true,
      );
      const io = await readSafetensors(`${fixtures}${name}.io.safetensors`);
      const tensor = (key: string) => {
        const entry = io.tensors.get(key);
        if (entry === undefined) throw new Error(`fixture lacks ${key}`);
        return tf.tensor(entry.values as Float32Array, entry.shape);
      };
      const input = tensor("input") as tf.Tensor4D;
      const expected = tensor("pooled");
      const pooled = pretrained.backbone.forward(input, { training: false });
      const difference = tf.tidy(() => tf.max(tf.abs(tf.sub(pooled, expected))).dataSync()[0]);
      expect(difference).toBeLessThan(1e-4);
      tf.dispose([input, expected, pooled]);
      pretrained.backbone.dispose();
    },
  );
});
