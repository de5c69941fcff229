import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { recordNativeOps } from "../__fixtures__/native-op-recorder";
import { env, nativePackage, normal, relativeDifference } from "../__fixtures__/test-backends";
import type { NativeBackend } from "../native-ops";
import { selectBackend } from "../select-backend";
import { tensorflowCapabilities } from "./tensorflow-kernels";

type Pad = "same" | "valid";

describe.skipIf(!nativePackage)("pointwise convolutions as MatMul on tensorflow", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  it("gives the cpu backend's output and gradients, with MatMul for 1×1 stride-1 only", async () => {
    await selectBackend({ backend: "tensorflow", env, log: () => {} });
    const capabilities = tensorflowCapabilities(tf.backend() as unknown as NativeBackend);
    expect(capabilities.pointwiseConvAsMatMul).toBe(true);
    // DenseNet's conv1 and transition shapes (1×1, "valid" and "same" alike), then convolutions
    // that are not products: a 3×3 and a strided 1×1.
    const settings: Array<{
      shape: number[];
      filter: number;
      out: number;
      stride: number;
      pad: Pad;
    }> = [
      { shape: [2, 7, 7, 44], filter: 1, out: 16, stride: 1, pad: "valid" },
      { shape: [3, 5, 4, 9], filter: 1, out: 7, stride: 1, pad: "same" },
      { shape: [2, 6, 6, 8], filter: 3, out: 4, stride: 1, pad: "same" },
      { shape: [2, 6, 6, 8], filter: 1, out: 4, stride: 2, pad: "valid" },
    ];
    const run = () =>
      settings.map(({ shape, filter, out, stride, pad }, index) => {
        const x = normal(shape, `pw-x${index}`) as tf.Tensor4D;
        const w = normal([filter, filter, shape[3] as number, out], `pw-w${index}`) as tf.Tensor4D;
        const y = tf.conv2d(x, w, stride, pad);
        const dy = tf.tidy(() => tf.sin(tf.range(0, y.size)).reshape(y.shape));
        const grad = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), dy)),
        );
        const [dx, dw] = grad([x, w]);
        const values = [y, dx, dw].map((tensor) => tensor.dataSync().slice() as Float32Array);
        tf.dispose([x, w, dy, y, dx, dw]);
        return values;
      });
    const native = recordNativeOps();
    const ours = run();
    native.restore();
    const convolutions = native
      .names()
      .filter((name) => name.includes("Conv2D") || name.includes("MatMul"));
    // The two 1×1 stride-1 settings come first: the forward pass twice (the value, then under
    // the tape) as BatchMatMulV2, then the input gradient (BatchMatMulV2) and the filter
    // gradient (MatMul). The others keep their convolution kernels, whichever this CPU's table
    // chose for their gradients.
    const products = ["BatchMatMulV2", "BatchMatMulV2", "BatchMatMulV2", "MatMul"];
    expect(convolutions.slice(0, 8)).toEqual([...products, ...products]);
    expect(convolutions.slice(8).filter((name) => name.includes("MatMul"))).toEqual([]);
    expect(convolutions.slice(8).filter((name) => name === "Conv2D").length).toBeGreaterThanOrEqual(
      4,
    );
    await tf.setBackend("cpu");
    const reference = run();
    for (const [index, values] of ours.entries()) {
      for (const [part, value] of values.entries()) {
        const expected = reference[index]?.[part] as Float32Array;
        expect(value.length).toBe(expected.length);
        expect(
          relativeDifference(tf.tensor(value), tf.tensor(expected)),
          `${JSON.stringify(settings[index])} ${["y", "dx", "dw"][part]}`,
        ).toBeLessThan(1e-5);
      }
    }
  });
});
