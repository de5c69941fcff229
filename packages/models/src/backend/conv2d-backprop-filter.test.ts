import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "./select-backend";

type Pad = "same" | "valid" | number;

interface ConvCase {
  name: string;
  input: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number;
  pad: Pad;
}

// The convolutions DenseNet trains: the 1x1 bottlenecks and transitions, the 3x3 growth convs,
// the 7x7 stride-2 stem (torchvision pads it by 3 on every side, so also as an explicit pad),
// plus 3x3 stride 2 with odd and even sizes, where the last input row is never read.
const cases: ConvCase[] = [
  { name: "1x1", input: [2, 9, 7, 12], filter: [1, 1, 12, 16], stride: 1, pad: "valid" },
  { name: "1x1 narrowing", input: [2, 6, 5, 20], filter: [1, 1, 20, 8], stride: 1, pad: "same" },
  { name: "1x1 stride 2", input: [2, 7, 7, 6], filter: [1, 1, 6, 4], stride: 2, pad: "valid" },
  { name: "3x3 same", input: [2, 8, 8, 6], filter: [3, 3, 6, 4], stride: 1, pad: "same" },
  { name: "3x3 valid", input: [1, 7, 9, 4], filter: [3, 3, 4, 5], stride: 1, pad: "valid" },
  { name: "5x5 pad 1", input: [2, 8, 7, 3], filter: [5, 5, 3, 4], stride: 1, pad: 1 },
  {
    name: "7x7 stride 2 same",
    input: [2, 21, 20, 3],
    filter: [7, 7, 3, 8],
    stride: 2,
    pad: "same",
  },
  { name: "7x7 stride 2 pad 3", input: [2, 20, 20, 3], filter: [7, 7, 3, 8], stride: 2, pad: 3 },
  {
    name: "3x3 stride 2 valid even",
    input: [2, 10, 10, 5],
    filter: [3, 3, 5, 4],
    stride: 2,
    pad: "valid",
  },
  {
    name: "3x3 stride 2 same odd",
    input: [3, 11, 9, 5],
    filter: [3, 3, 5, 7],
    stride: 2,
    pad: "same",
  },
];

function randomArray(size: number, seed: string): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length: size }, () => random.normal());
}

/** The loss `Σ conv(x, w) · g` has gradients conv2DBackpropFilter(x, g) and ...Input(w, g). */
async function gradients(
  backend: "cpu" | "wasm",
  spec: ConvCase,
): Promise<{ dx: Float32Array; dw: Float32Array; shape: number[] }> {
  await selectBackend({ backend, log: () => {} });
  const x = tf.tensor4d(
    randomArray(
      spec.input.reduce((a, b) => a * b),
      `${spec.name}/x`,
    ),
    spec.input,
  );
  const w = tf.tensor4d(
    randomArray(
      spec.filter.reduce((a, b) => a * b),
      `${spec.name}/w`,
    ),
    spec.filter,
  );
  const outShape = tf.tidy(() => tf.conv2d(x, w, spec.stride, spec.pad).shape);
  const g = tf.tensor(
    randomArray(
      outShape.reduce((a, b) => a * b),
      `${spec.name}/g`,
    ),
    outShape,
  );
  const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, spec.stride, spec.pad), g)),
  )([x, w]);
  const result = {
    dx: (await dx.data()) as Float32Array,
    dw: (await dw.data()) as Float32Array,
    shape: dw.shape,
  };
  tf.dispose([x, w, g, dx, dw]);
  return result;
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let scale = 0;
  let error = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i] as number));
    error = Math.max(error, Math.abs((actual[i] as number) - (expected[i] as number)));
  }
  return error / scale;
}

describe("wasm Conv2DBackpropFilter and Conv2DBackpropInput", () => {
  beforeAll(async () => {
    await selectBackend({ backend: "wasm", log: () => {} });
  });

  for (const spec of cases) {
    it(`matches the cpu backend for ${spec.name}`, async () => {
      const expected = await gradients("cpu", spec);
      const actual = await gradients("wasm", spec);
      expect(actual.shape).toEqual(spec.filter);
      expect(actual.dw.length).toBe(expected.dw.length);
      expect(relativeError(actual.dw, expected.dw)).toBeLessThan(1e-5);
      expect(relativeError(actual.dx, expected.dx)).toBeLessThan(1e-5);
    });
  }

  it("leaves no tensors behind on wasm", async () => {
    await tf.setBackend("wasm");
    const before = tf.memory().numTensors;
    const backendBefore = tf.backend().numDataIds();
    for (const spec of cases) await gradients("wasm", spec);
    await tf.setBackend("wasm");
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.backend().numDataIds()).toBe(backendBefore);
  });
});
