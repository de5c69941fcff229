import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordNativeOps } from "../__fixtures__/native-op-recorder";
import { env, nativePackage, normal, relativeDifference } from "../__fixtures__/test-backends";
import {
  activeNativeBackend,
  type NativeBackend,
  nativeConv2DBackpropFilter,
  nativeTensorflowFilterGradient,
} from "../native-ops";
import { selectBackend } from "../select-backend";
import { chooseFilterGradient, cpuFlags } from "./conv2d-backprop-filter";
import { tensorflowCapabilities } from "./tensorflow-kernels";

// Flags of the two CPUs measured in docs/native-backend.md (abridged).
const amdEpyc = new Set(["sse2", "avx", "avx2", "fma", "bmi2"]);
const xeon = new Set(["sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_bf16"]);

describe("chooseFilterGradient", () => {
  it("picks ours on AVX2 CPUs without AVX-512 and TensorFlow's elsewhere", () => {
    expect(chooseFilterGradient(amdEpyc, undefined)).toBe("medfm");
    expect(chooseFilterGradient(amdEpyc, "auto")).toBe("medfm");
    expect(chooseFilterGradient(xeon, undefined)).toBe("tensorflow");
    expect(chooseFilterGradient(new Set(["sse2", "avx"]), undefined)).toBe("tensorflow");
    expect(chooseFilterGradient(new Set(["avx2"]), undefined)).toBe("tensorflow");
    expect(chooseFilterGradient(undefined, "")).toBe("tensorflow");
  });

  it("follows MEDFM_FILTER_GRADIENT and names a bad value", () => {
    expect(chooseFilterGradient(xeon, "medfm")).toBe("medfm");
    expect(chooseFilterGradient(amdEpyc, " TensorFlow ")).toBe("tensorflow");
    expect(chooseFilterGradient(undefined, "medfm")).toBe("medfm");
    expect(() => chooseFilterGradient(amdEpyc, "onednn")).toThrow(
      'MEDFM_FILTER_GRADIENT="onednn" is not a filter-gradient kernel: use medfm, tensorflow or auto',
    );
  });

  it.runIf(process.platform === "linux" && process.arch === "x64")(
    "reads this machine's flags from /proc/cpuinfo",
    () => {
      const flags = cpuFlags();
      expect(flags?.has("sse2")).toBe(true);
      expect(flags?.has("")).toBe(false);
    },
  );
});

describe.skipIf(nativePackage === undefined)("MedfmConv2DBackpropFilter on tensorflow", () => {
  let backend: NativeBackend;
  beforeAll(async () => {
    await selectBackend({ backend: "tensorflow", env, log: () => {} });
    backend = activeNativeBackend() as NativeBackend;
  });
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  // DenseNet's 3×3 growth convolution at 14×14 (large enough to split between threads), a
  // 1×1 bottleneck with odd input channels, a 7×7 "same" filter with 69 outputs (two blocks of
  // 32, then 5 in a masked vector) and a non-square 2×5 "valid" one.
  const cases: Array<{
    name: string;
    x: [number, number, number, number];
    filter: [number, number, number, number];
    padding: "SAME" | "VALID";
  }> = [
    { name: "3x3 same, 128 -> 32", x: [2, 14, 14, 128], filter: [3, 3, 128, 32], padding: "SAME" },
    { name: "1x1, 37 -> 20", x: [3, 9, 7, 37], filter: [1, 1, 37, 20], padding: "VALID" },
    { name: "7x7 same, 3 -> 69", x: [2, 12, 11, 3], filter: [7, 7, 3, 69], padding: "SAME" },
    { name: "2x5 valid, 5 -> 9", x: [2, 8, 10, 5], filter: [2, 5, 5, 9], padding: "VALID" },
  ];
  for (const spec of cases) {
    it(`equals TensorFlow's Conv2DBackpropFilter for ${spec.name}`, () => {
      const [n, h, w] = spec.x;
      const [kh, kw, , o] = spec.filter;
      const same = spec.padding === "SAME";
      const x = normal(spec.x, `fg-x-${spec.name}`) as tf.Tensor4D;
      const dy = normal(
        [n, same ? h : h - kh + 1, same ? w : w - kw + 1, o],
        `fg-dy-${spec.name}`,
      ) as tf.Tensor4D;
      // TensorFlow's "SAME" puts the odd padding row below and right, as tfjs does.
      const top = same ? Math.floor((kh - 1) / 2) : 0;
      const left = same ? Math.floor((kw - 1) / 2) : 0;
      const ours = nativeConv2DBackpropFilter(backend, x, dy, [kh, kw], top, left);
      const theirs = nativeTensorflowFilterGradient(backend, x, dy, spec.filter, spec.padding);
      expect(ours.shape).toEqual(spec.filter);
      expect(relativeDifference(ours, theirs)).toBeLessThan(1e-5);
      tf.dispose([x, dy, ours, theirs]);
    });
  }

  it("takes explicit padding: the same values as a valid gradient of the padded input", () => {
    const x = normal([2, 7, 6, 4], "fg-pad-x") as tf.Tensor4D;
    const dy = normal([2, 5, 6, 3], "fg-pad-dy") as tf.Tensor4D;
    // A 5×3 filter over x padded by 1 row above and below and 1 column each side.
    const padded = tf.pad(x, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]) as tf.Tensor4D;
    const ours = nativeConv2DBackpropFilter(backend, x, dy, [5, 3], 1, 1);
    const theirs = nativeTensorflowFilterGradient(backend, padded, dy, [5, 3, 4, 3], "VALID");
    expect(relativeDifference(ours, theirs)).toBeLessThan(1e-5);
    tf.dispose([x, dy, padded, ours, theirs]);
  });

  it("names the fault when the batch sizes differ", () => {
    const x = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;
    const dy = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
    expect(() => nativeConv2DBackpropFilter(backend, x, dy, [3, 3], 1, 1).dataSync()).toThrow(
      /MedfmConv2DBackpropFilter: x rank 4, dy rank 4 \(batch 2 vs 1\)/,
    );
    tf.dispose([x, dy]);
  });

  it("runs tfjs's conv2d gradient where chosen, with the cpu backend's values", async () => {
    const chosen = tensorflowCapabilities(backend).medfmConv2DBackpropFilter;
    expect(chosen).toBe(
      chooseFilterGradient(cpuFlags(), process.env.MEDFM_FILTER_GRADIENT) === "medfm",
    );
    const grads = (stride: number, pad: "same" | "valid") => {
      const x = normal([2, 9, 8, 6], `fg-grad-x-${stride}-${pad}`) as tf.Tensor4D;
      const w = normal([3, 3, 6, 5], `fg-grad-w-${stride}-${pad}`) as tf.Tensor4D;
      const dw = tf.grad((filter: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(x, filter as tf.Tensor4D, stride, pad))),
      )(w);
      const values = dw.dataSync().slice();
      tf.dispose([x, w, dw]);
      return values;
    };
    const settings: Array<[number, "same" | "valid"]> = [
      [1, "same"],
      [1, "valid"],
      [2, "same"],
    ];
    const native = recordNativeOps();
    const results = settings.map(([stride, pad]) => grads(stride, pad));
    native.restore();
    const names = native.names().filter((name) => name.includes("Conv2DBackpropFilter"));
    // Stride 2 stays with tfjs-node's kernel.
    expect(names).toEqual(
      chosen
        ? ["MedfmConv2DBackpropFilter", "MedfmConv2DBackpropFilter", "Conv2DBackpropFilter"]
        : ["Conv2DBackpropFilter", "Conv2DBackpropFilter", "Conv2DBackpropFilter"],
    );
    await tf.setBackend("cpu");
    for (const [index, [stride, pad]] of settings.entries()) {
      const expected = grads(stride, pad);
      const actual = results[index] as Float32Array;
      const scale = Math.max(...expected.map(Math.abs));
      const error = Math.max(...expected.map((value, i) => Math.abs(value - (actual[i] ?? 0))));
      expect(error / scale).toBeLessThan(1e-5);
    }
    await selectBackend({ backend: "tensorflow", env, log: () => {} });
  });

  it("follows MEDFM_FILTER_GRADIENT and refuses a bad value", () => {
    expect(
      tensorflowCapabilities(backend, { MEDFM_FILTER_GRADIENT: "tensorflow" })
        .medfmConv2DBackpropFilter,
    ).toBe(false);
    expect(
      tensorflowCapabilities(backend, { MEDFM_FILTER_GRADIENT: "medfm" }).medfmConv2DBackpropFilter,
    ).toBe(true);
    expect(() => tensorflowCapabilities(backend, { MEDFM_FILTER_GRADIENT: "fast" })).toThrow(
      /MEDFM_FILTER_GRADIENT="fast"/,
    );
  });
});
