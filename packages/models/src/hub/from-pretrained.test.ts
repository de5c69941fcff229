import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type BackboneSpec, IMAGENET_PREPROCESSING } from "../backbones/backbone-spec";
import { type DenseNetConfig, densenet } from "../backbones/densenet/densenet";
import { registerBackbone, unregisterBackbone } from "../backbones/registry";
import { linearHead } from "../heads/linear-head";
import { encodeSafetensors, type SafetensorsInput } from "../weights/safetensors";
import { StateDictError } from "../weights/state-dict-error";
import { type FakeHub, startFakeHub } from "./__fixtures__/fake-hub";
import { fromPretrained } from "./from-pretrained";
import { HubOfflineError, UnsupportedArchitectureError } from "./hub-errors";

const fixtures = fileURLToPath(new URL("./__fixtures__/", import.meta.url));
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** The tiny DenseNet the test architecture builds: two one-layer blocks. */
const TINY: DenseNetConfig = { growthRate: 4, blockConfig: [1, 1], numInitFeatures: 8, bnSize: 2 };
const TIMM_NAME = "medfm_test_densenet_tiny";

/** OIHW → HWIO for convolutions, written out here rather than borrowed from the code under test. */
function toNative(_key: string, values: Float32Array, shape: readonly number[]) {
  if (shape.length !== 4) return { values, shape: [...shape] };
  const [o, i, h, w] = shape as [number, number, number, number];
  const out = new Float32Array(values.length);
  for (let a = 0; a < o; a += 1)
    for (let b = 0; b < i; b += 1)
      for (let c = 0; c < h; c += 1)
        for (let d = 0; d < w; d += 1)
          out[((c * w + d) * i + b) * o + a] = values[((a * i + b) * h + c) * w + d] as number;
  return { values: out, shape: [h, w, i, o] };
}

/**
 * A test architecture registered for the duration of the tests: it reads timm's
 * `architecture: medfm_test_densenet_tiny` and transformers' `model_type: medfm-test-densenet`
 * (whose keys carry a `densenet.` prefix and a pooler the backbone does not have).
 */
const testSpec: BackboneSpec<DenseNetConfig> = {
  type: "test-hub-densenet",
  presets: [{ name: "test-hub-densenet-tiny", description: "test", config: TINY }],
  create: (config) => densenet(config),
  weights: {
    normaliseKey: (key) => (key.startsWith("pooler.") ? undefined : key.replace(/^densenet\./, "")),
    toNative,
    inferConfig: (shapes) => ({
      ...TINY,
      numInitFeatures: shapes.get("features.conv0.weight")?.[0] as number,
    }),
    headPrefix: "classifier.",
  },
  preprocessing: IMAGENET_PREPROCESSING,
  hub: {
    accepts: [`timm ${TIMM_NAME}`, "transformers medfm-test-densenet"],
    configFromHub: ({ config }) => {
      if (config.architecture === TIMM_NAME) return { ...TINY };
      if (config.model_type !== "medfm-test-densenet") return undefined;
      return {
        growthRate: Number(config.growth_rate),
        blockConfig: config.block_config as number[],
        numInitFeatures: Number(config.num_init_features),
        bnSize: Number(config.bn_size),
      };
    },
  },
};

/** A torch-layout state dict of the tiny DenseNet with seeded random values, and a 3-class head. */
function randomStateDict(): Map<string, SafetensorsInput> {
  const reference = densenet(TINY);
  const random = createRandom(7);
  const state = new Map<string, SafetensorsInput>();
  for (const [key, variable] of reference.namedVariables()) {
    const s = variable.shape;
    const shape = s.length === 4 ? [s[3], s[2], s[0], s[1]] : [...s];
    const values = Float32Array.from({ length: variable.size }, () =>
      key.endsWith("running_var") ? 0.5 + random.next() : random.next() - 0.5,
    );
    state.set(key, { dtype: "F32", shape: shape as number[], values });
  }
  for (const key of reference.nonTensorState?.().keys() ?? []) {
    state.set(key, { dtype: "I64", shape: [], values: Int32Array.of(42) });
  }
  const features = reference.numFeatures;
  reference.dispose();
  state.set("classifier.weight", {
    dtype: "F32",
    shape: [3, features],
    values: Float32Array.from({ length: 3 * features }, (_, index) => index / 100),
  });
  state.set("classifier.bias", { dtype: "F32", shape: [3], values: Float32Array.of(1, 2, 3) });
  return state;
}

const timmConfig = JSON.parse(
  readFileSync(join(fixtures, "timm-vit_small_patch16_224.config.json"), "utf8"),
) as Record<string, unknown>;
const state = randomStateDict();
const weights = encodeSafetensors(state);
const commit = "a".repeat(40);
const transformersCommit = "b".repeat(40);
const vitCommit = "c".repeat(40);
const pretrainedCfg = {
  mean: [0.5, 0.5, 0.5],
  std: [0.25, 0.25, 0.25],
  input_size: [3, 96, 96],
  interpolation: "bicubic",
  crop_pct: 0.9,
};

/** The same tensors as transformers names them: a base-model prefix and a pooler. */
function transformersWeights(): Uint8Array {
  const renamed = new Map<string, SafetensorsInput>();
  for (const [key, tensor] of state) {
    renamed.set(key.startsWith("classifier.") ? key : `densenet.${key}`, tensor);
  }
  renamed.set("pooler.dense.weight", { dtype: "F32", shape: [2], values: Float32Array.of(1, 2) });
  return encodeSafetensors(renamed);
}

/** The state split into two shards and the index transformers writes. */
function shardedFiles(): Record<string, Uint8Array> {
  const keys = [...state.keys()];
  const names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
  const weightMap: Record<string, string> = {};
  const files: Record<string, Uint8Array> = {};
  names.forEach((name, shard) => {
    const part = keys.filter((_, index) => index % 2 === shard);
    for (const key of part) weightMap[key] = name;
    files[name] = encodeSafetensors(
      new Map(part.map((key) => [key, state.get(key) as SafetensorsInput])),
    );
  });
  files["model.safetensors.index.json"] = encode({ metadata: {}, weight_map: weightMap });
  files["config.json"] = encode({ architecture: TIMM_NAME });
  return files;
}
const shardedCommit = "d".repeat(40);

let hub: FakeHub;
let cacheDir: string;

beforeAll(async () => {
  registerBackbone(testSpec);
  hub = await startFakeHub([
    {
      id: "medfm-test/densenet-tiny.timm",
      refs: { main: commit },
      commits: {
        [commit]: {
          "config.json": encode({
            architecture: TIMM_NAME,
            num_classes: 3,
            num_features: 10,
            pretrained_cfg: pretrainedCfg,
          }),
          "model.safetensors": weights,
        },
      },
    },
    {
      id: "medfm-test/densenet-tiny-hf",
      refs: { main: transformersCommit },
      commits: {
        [transformersCommit]: {
          "config.json": encode({
            model_type: "medfm-test-densenet",
            growth_rate: 4,
            block_config: [1, 1],
            num_init_features: 8,
            bn_size: 2,
            id2label: { "0": "normal", "1": "effusion", "2": "nodule" },
          }),
          "preprocessor_config.json": readFileSync(
            join(fixtures, "transformers-dinov2-small.preprocessor_config.json"),
          ),
          "model.safetensors": transformersWeights(),
        },
      },
    },
    {
      id: "medfm-test/densenet-tiny-sharded",
      refs: { main: shardedCommit },
      commits: { [shardedCommit]: shardedFiles() },
    },
    {
      id: "timm/vit_small_patch16_224.augreg_in21k",
      refs: { main: vitCommit },
      commits: {
        [vitCommit]: { "config.json": encode(timmConfig), "model.safetensors": weights },
      },
    },
  ]);
});

afterAll(async () => {
  unregisterBackbone(testSpec.type);
  await hub.close();
});

beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), "medfm-from-pretrained-"));
});

const online = () => ({ endpoint: hub.endpoint, cacheDir, token: false as const });

/** Each loaded variable, back in torch layout, equals the file's tensor. */
function expectWeightsOf(variables: Map<string, tf.Variable>, prefix = "") {
  for (const [key, variable] of variables) {
    const expected = state.get(`${prefix}${key}`);
    if (expected === undefined) throw new Error(`no ${key} in the file`);
    const torch = tf.tidy(() =>
      variable.rank === 4
        ? tf.transpose(variable, [3, 2, 0, 1])
        : variable.rank === 2
          ? tf.transpose(variable)
          : tf.clone(variable),
    );
    expect([...torch.shape], key).toEqual(expected.shape);
    expect(Array.from(torch.dataSync()), key).toEqual(Array.from(expected.values));
    torch.dispose();
  }
}

describe("fromPretrained", () => {
  afterEach(() => {
    expect(tf.memory().numTensors).toBeLessThan(10_000);
  });

  it("pulls a timm repository into huggingface_hub's cache, builds the spec it names and loads its tensors", async () => {
    const pretrained = await fromPretrained("medfm-test/densenet-tiny.timm", online());
    try {
      const repoDir = join(cacheDir, "models--medfm-test--densenet-tiny.timm");
      expect(readFileSync(join(repoDir, "refs", "main"), "utf8")).toBe(commit);
      const snapshotWeights = join(repoDir, "snapshots", commit, "model.safetensors");
      expect(lstatSync(snapshotWeights).isSymbolicLink()).toBe(true);
      expect(existsSync(join(repoDir, "blobs"))).toBe(true);
      expect(pretrained.source).toMatchObject({
        repo: "medfm-test/densenet-tiny.timm",
        revision: "main",
        commit,
        snapshotDir: join(repoDir, "snapshots", commit),
      });

      expect(pretrained.spec).toBe(testSpec);
      expect(pretrained.config).toEqual(TINY);
      expect(pretrained.backbone.numFeatures).toBe(10);
      expectWeightsOf(pretrained.backbone.namedVariables());
      // conv0 element [out 1, in 2, row 0, col 3] sits at HWIO [0, 3, 2, 1].
      const conv0 = pretrained.backbone
        .namedVariables()
        .get("features.conv0.weight") as tf.Variable;
      const torchConv0 = state.get("features.conv0.weight") as SafetensorsInput;
      const [, i, h, w] = torchConv0.shape as number[];
      expect((conv0.arraySync() as number[][][][])[0]?.[3]?.[2]?.[1]).toBe(
        torchConv0.values[((1 * (i as number) + 2) * (h as number) + 0) * (w as number) + 3],
      );
      const counters = pretrained.backbone.nonTensorState?.() ?? new Map();
      expect([...counters.keys()]).toEqual(
        [...state.keys()].filter((key) => key.endsWith(".num_batches_tracked")),
      );
      expect(new Set(counters.values())).toEqual(new Set([42]));

      expect(pretrained.preprocessing).toEqual({
        mean: [0.5, 0.5, 0.5],
        std: [0.25, 0.25, 0.25],
        inputSize: 96,
        interpolation: "bicubic",
        crop: 0.9,
        cropMode: "center",
        cropConvention: "torchvision",
      });
      expect(pretrained.preprocessingSource).toBe("pretrained_cfg");
      expect(pretrained.report.skippedHead).toEqual(["classifier.weight", "classifier.bias"]);
      expect(pretrained.report.dropped).toEqual([]);
      expect("classifier" in pretrained).toBe(false);
    } finally {
      pretrained.backbone.dispose();
    }
  });

  it("with head 'published', builds a classifier with the checkpoint's head and its logits", async () => {
    const pretrained = await fromPretrained("medfm-test/densenet-tiny.timm", {
      ...online(),
      head: "published",
      classes: ["a", "b", "c"],
    });
    try {
      expect(pretrained.classifier.head.numClasses).toBe(3);
      expect(pretrained.classifier.head.classes).toEqual(["a", "b", "c"]);
      expectWeightsOf(pretrained.classifier.head.namedVariables());
      const images = tf.randomUniform([1, 32, 32, 3], 0, 1, "float32", 3) as tf.Tensor4D;
      const features = pretrained.classifier.features(images);
      const logits = pretrained.classifier.predict(images);
      // logits = features · Wᵀ + b with the file's [out, in] W.
      const W = state.get("classifier.weight") as SafetensorsInput;
      const f = features.dataSync();
      const expected = [0, 1, 2].map(
        (row) =>
          Array.from(f).reduce(
            (sum, value, column) => sum + value * (W.values[row * f.length + column] as number),
            0,
          ) +
          (row + 1),
      );
      for (const [index, value] of Array.from(logits.dataSync()).entries()) {
        expect(value).toBeCloseTo(expected[index] as number, 4);
      }
      tf.dispose([images, features, logits]);
    } finally {
      pretrained.classifier.dispose();
    }
  });

  it("with a Head of the task, loads the backbone only and attaches that head", async () => {
    const pretrained = await fromPretrained("medfm-test/densenet-tiny.timm@main", {
      ...online(),
      head: linearHead({ numClasses: 19, kind: "multi-label" }),
    });
    try {
      expect(pretrained.classifier.head.numClasses).toBe(19);
      expect(pretrained.classifier.backbone).toBe(pretrained.backbone);
      expectWeightsOf(pretrained.backbone.namedVariables());
      expect(pretrained.report.skippedHead).toEqual(["classifier.weight", "classifier.bias"]);
    } finally {
      pretrained.classifier.dispose();
    }
  });

  it("reads a transformers layout: model_type, prefixed keys, a dropped pooler and preprocessor_config.json", async () => {
    const pretrained = await fromPretrained("medfm-test/densenet-tiny-hf", online());
    try {
      expect(pretrained.config).toEqual({
        growthRate: 4,
        blockConfig: [1, 1],
        numInitFeatures: 8,
        bnSize: 2,
      });
      expectWeightsOf(pretrained.backbone.namedVariables());
      expect(pretrained.report.dropped).toEqual(["pooler.dense.weight"]);
      expect(pretrained.report.renamed).toContainEqual([
        "densenet.features.conv0.weight",
        "features.conv0.weight",
      ]);
      expect(pretrained.preprocessingSource).toBe("preprocessor_config.json");
      expect(pretrained.preprocessing).toEqual({
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        inputSize: 224,
        interpolation: "bicubic",
        crop: 224 / 256,
        cropMode: "center",
        cropConvention: "transformers",
      });
    } finally {
      pretrained.backbone.dispose();
    }
  });

  it("loads sharded weights through model.safetensors.index.json, with the spec's default preprocessing", async () => {
    const pretrained = await fromPretrained("hf:medfm-test/densenet-tiny-sharded", online());
    try {
      expect(pretrained.source.weightFiles.map((file) => file.split("/").pop())).toEqual([
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
      ]);
      expectWeightsOf(pretrained.backbone.namedVariables());
      expect(pretrained.preprocessingSource).toBe("spec");
      expect(pretrained.preprocessing).toEqual(IMAGENET_PREPROCESSING);
    } finally {
      pretrained.backbone.dispose();
    }
  });

  it("names a published head after transformers' id2label, and refuses a head num_classes contradicts", async () => {
    const pretrained = await fromPretrained("medfm-test/densenet-tiny-hf", {
      ...online(),
      head: "published",
      task: "multi-label",
    });
    try {
      expect(pretrained.classifier.head.classes).toEqual(["normal", "effusion", "nodule"]);
      expect(pretrained.classifier.head.task).toBe("multi-label");
      expectWeightsOf(pretrained.classifier.head.namedVariables());
    } finally {
      pretrained.classifier.dispose();
    }
    const folder = mkdtempSync(join(tmpdir(), "medfm-from-pretrained-classes-"));
    writeFileSync(join(folder, "config.json"), encode({ architecture: TIMM_NAME, num_classes: 5 }));
    writeFileSync(join(folder, "model.safetensors"), weights);
    await expect(fromPretrained(folder, { head: "published" })).rejects.toThrow(
      "config.json says num_classes 5 but classifier.weight has 3 rows",
    );
    expect(tf.memory().numTensors).toBeLessThan(10_000);
  });

  it("names the repository, its timm architecture and the supported ones when no spec reads it", async () => {
    // Only the test architecture is asked (the built-in ViT reads this repository).
    const options = { ...online(), specs: [testSpec] };
    const attempt = fromPretrained("timm/vit_small_patch16_224.augreg_in21k", options);
    await expect(attempt).rejects.toThrow(UnsupportedArchitectureError);
    await expect(
      fromPretrained("timm/vit_small_patch16_224.augreg_in21k", options),
    ).rejects.toThrow(
      /timm\/vit_small_patch16_224\.augreg_in21k@main file config\.json: timm architecture "vit_small_patch16_224" is not supported by any registered backbone; supported: .*timm medfm_test_densenet_tiny \(test-hub-densenet\); transformers medfm-test-densenet \(test-hub-densenet\)/,
    );
  });

  it("offline (HF_HUB_OFFLINE=1), builds from a filled cache without a request, and fails naming the cache when it is empty", async () => {
    await fromPretrained("medfm-test/densenet-tiny.timm", online()).then((loaded) =>
      loaded.backbone.dispose(),
    );
    const before = hub.requests.length;
    const previous = process.env.HF_HUB_OFFLINE;
    process.env.HF_HUB_OFFLINE = "1";
    try {
      const pretrained = await fromPretrained("medfm-test/densenet-tiny.timm", { cacheDir });
      try {
        expect(hub.requests.length).toBe(before);
        expect(pretrained.source.commit).toBe(commit);
        expectWeightsOf(pretrained.backbone.namedVariables());
      } finally {
        pretrained.backbone.dispose();
      }
      const empty = mkdtempSync(join(tmpdir(), "medfm-from-pretrained-empty-"));
      await expect(
        fromPretrained("medfm-test/densenet-tiny-hf", { cacheDir: empty }),
      ).rejects.toThrow(HubOfflineError);
      expect(hub.requests.length).toBe(before);
    } finally {
      if (previous === undefined) delete process.env.HF_HUB_OFFLINE;
      else process.env.HF_HUB_OFFLINE = previous;
    }
  });

  it("says what the tensor shapes describe when config.json disagrees with them", async () => {
    const folder = mkdtempSync(join(tmpdir(), "medfm-from-pretrained-wide-"));
    writeFileSync(
      join(folder, "config.json"),
      encode({
        model_type: "medfm-test-densenet",
        growth_rate: 4,
        block_config: [1, 1],
        num_init_features: 16,
        bn_size: 2,
      }),
    );
    writeFileSync(join(folder, "model.safetensors"), weights);
    const error = await fromPretrained(folder).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StateDictError);
    expect((error as StateDictError).mismatched).toContain(
      "features.conv0.weight: expected [7, 7, 3, 16], got [7, 7, 3, 8]",
    );
    expect((error as Error).message).toContain(
      'config.json gives test-hub-densenet {"growthRate":4,"blockConfig":[1,1],"numInitFeatures":16,"bnSize":2} but the tensor shapes describe {"growthRate":4,"blockConfig":[1,1],"numInitFeatures":8,"bnSize":2}',
    );
  });

  it("reads a local folder and lists missing, unexpected and mis-shaped tensors by name", async () => {
    const folder = mkdtempSync(join(tmpdir(), "medfm-from-pretrained-folder-"));
    writeFileSync(
      join(folder, "config.json"),
      encode({ architecture: TIMM_NAME, pretrained_cfg: pretrainedCfg }),
    );
    const broken = new Map(state);
    broken.delete("features.norm5.bias");
    broken.set("features.extra.weight", { dtype: "F32", shape: [1], values: Float32Array.of(0) });
    const conv0 = state.get("features.conv0.weight") as SafetensorsInput;
    broken.set("features.conv0.weight", { ...conv0, shape: [8, 3, 7, 7, 1] });
    writeFileSync(join(folder, "model.safetensors"), encodeSafetensors(broken));
    const tensorsBefore = tf.memory().numTensors;
    const error = await fromPretrained(folder).catch((caught: unknown) => caught);
    // The backbone built for the failed load is released.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(error).toBeInstanceOf(StateDictError);
    expect((error as StateDictError).missing).toEqual(["features.norm5.bias"]);
    expect((error as StateDictError).unexpected).toEqual(["features.extra.weight"]);
    expect((error as StateDictError).mismatched).toEqual([
      "features.conv0.weight: expected [7, 7, 3, 8], got [8, 3, 7, 7, 1]",
    ]);
    expect((error as Error).message).toContain(`${folder}@local (model.safetensors)`);

    writeFileSync(join(folder, "model.safetensors"), weights);
    mkdirSync(join(folder, "nested"));
    const pretrained = await fromPretrained(folder);
    try {
      expect(pretrained.source).toMatchObject({
        repo: folder,
        revision: "local",
        commit: undefined,
      });
      expectWeightsOf(pretrained.backbone.namedVariables());
    } finally {
      pretrained.backbone.dispose();
    }
    await expect(fromPretrained(join(folder, "model.safetensors"))).rejects.toThrow(
      "is a file; it reads a folder with config.json",
    );
  });
});
