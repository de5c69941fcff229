import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClassifier } from "../classifier";
import { linearHead } from "../heads/linear-head";
import { createClassifierFromTorch, exportTorchStateDict } from "../weights/load-torch-weights";
import type { SafetensorsTensor } from "../weights/safetensors";
import { loadClassifier, saveClassifier } from "../weights/save-load";
import type { Backbone, BackboneForwardOptions, BackboneMetadata } from "./backbone";
import type { BackbonePreprocessing, BackboneSpec } from "./backbone-spec";
import { listPresetNames, registerBackbone, unregisterBackbone } from "./registry";
import { createBackbone } from "./spec-of";
import { OIHW_TO_HWIO, permuteValues } from "./torch-layout";

// A backbone that exists only in this test: two 3×3 convolutions (stages "stage1", "stage2")
// with ReLUs and a global max pool, keys `stem.weight`, `stage1.weight`, `stage2.weight`
// (a timm-like layout, published under a `model.` prefix) and a `head.` classifier. Registering
// its spec is all it takes for createClassifier, model.json and the torch loader to serve it.
interface ToyConfig {
  width: number;
  seed?: number;
}

const TOY_PREPROCESSING: BackbonePreprocessing = {
  mean: [0.5, 0.5, 0.5],
  std: [0.25, 0.25, 0.25],
  inputSize: 32,
  interpolation: "bicubic",
  crop: 0.9,
};

class ToyBackbone implements Backbone {
  readonly name: string;
  readonly numFeatures: number;
  readonly stageNames = ["stage1", "stage2"] as const;
  private readonly variables: Map<string, tf.Variable>;
  private trainable = new Set(["stem", "stage1", "stage2"]);

  constructor(private readonly config: ToyConfig) {
    this.name = `toy-${config.width}`;
    this.numFeatures = config.width;
    const seed = config.seed ?? 0;
    this.variables = new Map([
      [
        "stem.weight",
        tf.variable(tf.randomNormal([3, 3, 3, config.width], 0, 0.3, "float32", seed)),
      ],
      [
        "stage1.weight",
        tf.variable(
          tf.randomNormal([3, 3, config.width, config.width], 0, 0.3, "float32", seed + 1),
        ),
      ],
      [
        "stage2.weight",
        tf.variable(
          tf.randomNormal([3, 3, config.width, config.width], 0, 0.3, "float32", seed + 2),
        ),
      ],
    ]);
  }

  featureMap(images: tf.Tensor4D, _options: BackboneForwardOptions): tf.Tensor4D {
    return tf.tidy(() => {
      let x: tf.Tensor4D = images;
      for (const key of ["stem.weight", "stage1.weight", "stage2.weight"]) {
        x = tf.relu(tf.conv2d(x, this.variables.get(key) as tf.Variable<tf.Rank.R4>, 1, "same"));
      }
      return x;
    });
  }

  poolFeatureMap(featureMap: tf.Tensor4D): tf.Tensor2D {
    return tf.max(featureMap, [1, 2]) as tf.Tensor2D;
  }

  forward(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor2D {
    return tf.tidy(() => this.poolFeatureMap(this.featureMap(images, options)));
  }

  namedVariables(): Map<string, tf.Variable> {
    return new Map(this.variables);
  }

  namedTrainableVariables(): Map<string, tf.Variable> {
    return new Map(
      [...this.variables].filter(([key]) => this.trainable.has(key.slice(0, key.indexOf(".")))),
    );
  }

  freezeStages(trainableStages: number): void {
    this.trainable = new Set(this.stageNames.slice(this.stageNames.length - trainableStages));
  }

  metadata(): BackboneMetadata {
    return { type: "toy", config: { ...this.config } };
  }

  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose();
  }
}

const toySpec: BackboneSpec<ToyConfig> = {
  type: "toy",
  presets: [
    { name: "toy-small", description: "4 channels", config: { width: 4 } },
    { name: "toy-wide", description: "6 channels", config: { width: 6 } },
  ],
  create: (config) => new ToyBackbone(config),
  weights: {
    normaliseKey: (key) => (key.endsWith(".attn_mask") ? undefined : key.replace(/^model\./, "")),
    toNative(key, values, shape) {
      if (shape.length === 4) return permuteValues(values, shape, OIHW_TO_HWIO);
      if (key === "head.weight") return permuteValues(values, shape, [1, 0]);
      return { values, shape: [...shape] };
    },
    inferConfig(shapes) {
      const stem = shapes.get("stem.weight");
      if (stem === undefined || !shapes.has("stage2.weight")) {
        throw new RangeError("not a toy state dict, stem.weight is missing");
      }
      return { width: stem[0] };
    },
    headPrefix: "head.",
  },
  preprocessing: TOY_PREPROCESSING,
};

const directory = mkdtempSync(join(tmpdir(), "medfm-toy-backbone-"));

beforeAll(async () => {
  await tf.setBackend("cpu");
  registerBackbone(toySpec);
});

afterAll(() => {
  unregisterBackbone("toy");
});

function images(): tf.Tensor4D {
  return tf.randomNormal([2, 8, 8, 3], 0, 1, "float32", 3) as tf.Tensor4D;
}

function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe("a backbone added by registering its spec only", () => {
  it("is offered as a preset and builds through createBackbone", () => {
    expect(listPresetNames()).toEqual(expect.arrayContaining(["toy-small", "toy-wide"]));
    const backbone = createBackbone("toy-wide", { seed: 2 });
    expect(backbone.numFeatures).toBe(6);
    expect(backbone.metadata()).toEqual({ type: "toy", config: { width: 6, seed: 2 } });
    backbone.dispose();
  });

  it("gets its head prefix, pooling, preprocessing and stages in createClassifier", () => {
    const model = createClassifier({
      backbone: createBackbone("toy-small"),
      head: linearHead({ numClasses: 3, kind: "multi-class" }),
    });
    expect(model.headPrefix).toBe("head.");
    expect(model.preprocessing).toEqual(TOY_PREPROCESSING);
    const state = model.stateDict();
    expect([...state.keys()]).toEqual([
      "stem.weight",
      "stage1.weight",
      "stage2.weight",
      "head.weight",
      "head.bias",
    ]);
    tf.dispose([...state.values()]);
    const x = images();
    // forwardFromFeatureMap pools with the backbone's max pool, not a hard-coded mean.
    const direct = model.predict(x);
    const viaMap = tf.tidy(() =>
      model.forwardFromFeatureMap(model.featureMap(x), { training: false }),
    );
    expect(maxAbsDifference(direct, viaMap)).toBe(0);
    model.unfreezeFromStage("stage2");
    expect([...model.namedTrainableVariables().keys()]).toEqual([
      "stage2.weight",
      "head.weight",
      "head.bias",
    ]);
    expect(() => model.unfreezeFromStage("denseblock4")).toThrow(
      'toy-4: no stage "denseblock4"; stages: stage1, stage2',
    );
    tf.dispose([x, direct, viaMap]);
    model.dispose();
  });

  it("round-trips through model.json with its type and preprocessing", async () => {
    const model = createClassifier({
      backbone: createBackbone("toy-small", { seed: 7 }),
      head: linearHead({ numClasses: 2, kind: "multi-label", classes: ["a", "b"] }),
    });
    const x = images();
    const before = model.predict(x);
    const path = await saveClassifier(model, join(directory, "saved"));
    const json = JSON.parse(readFileSync(path, "utf8"));
    expect(json.modelTopology.backbone).toEqual({ type: "toy", config: { width: 4, seed: 7 } });
    expect(json.preprocessing).toEqual(TOY_PREPROCESSING);
    const loaded = await loadClassifier(path);
    expect(loaded.preprocessing).toEqual(TOY_PREPROCESSING);
    const after = loaded.predict(x);
    expect(maxAbsDifference(before, after)).toBe(0);
    tf.dispose([x, before, after]);
    model.dispose();
    loaded.dispose();
  });

  it("loads a torch-layout state dict with its key rules through createClassifierFromTorch", () => {
    const model = createClassifier({
      backbone: createBackbone("toy-wide", { seed: 4 }),
      head: linearHead({ numClasses: 5, kind: "multi-class" }),
    });
    const exported = exportTorchStateDict(model);
    const file = new Map<string, SafetensorsTensor>();
    for (const [key, tensor] of exported) {
      file.set(`model.${key}`, {
        dtype: "F32",
        shape: [...tensor.shape],
        values: tensor.values as Float32Array,
      });
    }
    // Dropped by the spec's normaliseKey.
    file.set("model.stage1.attn_mask", { dtype: "F32", shape: [1], values: new Float32Array(1) });
    expect(file.get("model.stem.weight")?.shape).toEqual([6, 3, 3, 3]);
    expect(file.get("model.head.weight")?.shape).toEqual([5, 6]);
    const loaded = createClassifierFromTorch(file, { source: "toy.safetensors" });
    expect(loaded.backbone.numFeatures).toBe(6);
    expect(loaded.head.numClasses).toBe(5);
    const x = images();
    const expected = model.predict(x);
    const actual = loaded.predict(x);
    expect(maxAbsDifference(expected, actual)).toBe(0);
    tf.dispose([x, expected, actual]);
    model.dispose();
    loaded.dispose();
  });

  it("is refused by name once unregistered, the message naming the file and the types", async () => {
    const model = createClassifier({
      backbone: createBackbone("toy-small"),
      head: linearHead({ numClasses: 2, kind: "multi-class" }),
    });
    const path = await saveClassifier(model, join(directory, "orphan"));
    model.dispose();
    unregisterBackbone("toy");
    try {
      await expect(loadClassifier(path)).rejects.toThrow(
        `${path}: unknown backbone type "toy"; registered types: densenet`,
      );
    } finally {
      registerBackbone(toySpec);
    }
  });
});
