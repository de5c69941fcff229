import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { createClassifier } from "../../classifier";
import { linearHead } from "../../heads/linear-head";
import { getBackboneSpec } from "../registry";
import { createBackbone } from "../spec-of";
import { DENSENET121_CONFIG } from "./densenet";
import { densenetSpec } from "./densenet-spec";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

function values(size: number): Float32Array {
  return Float32Array.from({ length: size }, (_, index) => Math.sin(index * 1.7) * 3);
}

describe("densenetSpec", () => {
  it("is the registered densenet type", () => {
    expect(getBackboneSpec("densenet")).toBe(densenetSpec);
  });

  it("converts OIHW convolutions and [out, in] head weights as tf.transpose does, and back", () => {
    const conv = values(4 * 3 * 2 * 5);
    const native = densenetSpec.weights.toNative("features.conv0.weight", conv, [4, 3, 2, 5]);
    const expected = tf.tidy(() =>
      tf.transpose(tf.tensor(conv, [4, 3, 2, 5]), [2, 3, 1, 0]).dataSync(),
    );
    expect(native.shape).toEqual([2, 5, 3, 4]);
    expect([...native.values]).toEqual([...expected]);
    const back = densenetSpec.weights.fromNative?.(
      "features.conv0.weight",
      native.values,
      native.shape,
    );
    expect(back?.shape).toEqual([4, 3, 2, 5]);
    expect([...(back?.values ?? [])]).toEqual([...conv]);
    const head = densenetSpec.weights.toNative("classifier.weight", values(6), [2, 3]);
    expect(head.shape).toEqual([3, 2]);
    expect([...head.values]).toEqual([
      ...tf.tidy(() => tf.transpose(tf.tensor(values(6), [2, 3])).dataSync()),
    ]);
    // Norm parameters keep their layout.
    expect(densenetSpec.weights.toNative("features.norm0.weight", values(4), [4]).shape).toEqual([
      4,
    ]);
  });

  it("normalises legacy keys and infers a preset configuration from shapes", () => {
    expect(
      densenetSpec.weights.normaliseKey("module.features.denseblock1.denselayer1.norm.1.weight"),
    ).toBe("features.denseblock1.denselayer1.norm1.weight");
    const model = createClassifier({
      backbone: createBackbone("densenet121"),
      head: linearHead({ numClasses: 3, kind: "multi-class" }),
    });
    const shapes = new Map<string, number[]>();
    const state = model.stateDict();
    for (const [key, tensor] of state) {
      // Torch layout: HWIO back to OIHW, head [in, out] back to [out, in].
      const shape =
        tensor.rank === 4
          ? [3, 2, 0, 1].map((axis) => tensor.shape[axis])
          : key === "classifier.weight"
            ? [...tensor.shape].reverse()
            : tensor.shape;
      shapes.set(key, shape);
    }
    tf.dispose([...state.values()]);
    model.dispose();
    expect(densenetSpec.weights.inferConfig(shapes)).toEqual({
      ...DENSENET121_CONFIG,
      blockConfig: [6, 12, 24, 16],
    });
    expect(() => densenetSpec.weights.inferConfig(new Map())).toThrow(
      "not a torchvision DenseNet state dict, features.conv0.weight is missing",
    );
  });

  it("unfreezes from a named dense block", () => {
    const model = createClassifier({
      backbone: createBackbone("densenet-tiny"),
      head: linearHead({ numClasses: 2, kind: "multi-class" }),
    });
    expect(model.backbone.stageNames).toEqual([
      "denseblock1",
      "denseblock2",
      "denseblock3",
      "denseblock4",
    ]);
    model.unfreezeFromStage("denseblock4");
    const trainable = [...model.namedTrainableVariables().keys()];
    expect(trainable.some((key) => key.startsWith("features.denseblock4."))).toBe(true);
    expect(trainable.some((key) => key.startsWith("features.denseblock3."))).toBe(false);
    expect(trainable).toContain("features.norm5.weight");
    expect(trainable).toContain("classifier.weight");
    model.unfreezeFromStage("denseblock3");
    expect(
      [...model.namedTrainableVariables().keys()].some((key) =>
        key.startsWith("features.denseblock3."),
      ),
    ).toBe(true);
    model.dispose();
  });
});
