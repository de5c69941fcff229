import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordNativeOps } from "../__fixtures__/native-op-recorder";
import {
  env,
  maxDifference,
  nativePackage,
  normal,
  relativeDifference,
} from "../__fixtures__/test-backends";
import {
  activeNativeBackend,
  hasMedfmKernels,
  type NativeBackend,
  nativeConv2DBackpropInputAsConv2D,
  nativeFlipSwapFilter,
  nativeTensorflowInputGradient,
  tensorflowFlipSwapFilter,
} from "../native-ops";
import { selectBackend } from "../select-backend";
import { cpuFlags } from "./conv2d-backprop-filter";
import {
  chooseInputGradient,
  INPUT_GRADIENT_MIN_POSITIONS,
  inputGradientPadding,
} from "./conv2d-backprop-input";
import { tensorflowCapabilities } from "./tensorflow-kernels";

// Flags of the two CPUs measured in docs/native-backend.md (abridged).
const amdEpyc = new Set(["sse2", "avx", "avx2", "fma", "bmi2"]);
const xeon = new Set(["sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_bf16"]);

describe("chooseInputGradient", () => {
  it("picks the forward convolution on AVX2 CPUs without AVX-512 and TensorFlow's elsewhere", () => {
    expect(chooseInputGradient(amdEpyc, undefined)).toBe("medfm");
    expect(chooseInputGradient(amdEpyc, "auto")).toBe("medfm");
    expect(chooseInputGradient(xeon, undefined)).toBe("tensorflow");
    expect(chooseInputGradient(new Set(["sse2", "avx"]), undefined)).toBe("tensorflow");
    expect(chooseInputGradient(undefined, "")).toBe("tensorflow");
  });

  it("follows MEDFM_INPUT_GRADIENT and names a bad value", () => {
    expect(chooseInputGradient(xeon, "MEDFM")).toBe("medfm");
    expect(chooseInputGradient(amdEpyc, "tensorflow")).toBe("tensorflow");
    expect(() => chooseInputGradient(amdEpyc, "onednn")).toThrow(
      'MEDFM_INPUT_GRADIENT="onednn" is not an input-gradient kernel: use medfm, tensorflow or auto',
    );
  });
});

describe("inputGradientPadding", () => {
  const info = (
    inShape: [number, number, number, number],
    filter: [number, number, number, number],
    pad: "same" | "valid" | number | tf.backend_util.ExplicitPadding,
  ) => tf.backend_util.computeConv2DInfo(inShape, filter, 1, 1, pad);

  it("pads by filter − 1 − pad on each side", () => {
    // "same" 3×3: one on every side; "valid" 3×3: two; 1×1: none.
    expect(inputGradientPadding(info([1, 8, 8, 2], [3, 3, 2, 4], "same"))).toEqual([1, 1, 1, 1]);
    expect(inputGradientPadding(info([1, 8, 8, 2], [3, 3, 2, 4], "valid"))).toEqual([2, 2, 2, 2]);
    expect(inputGradientPadding(info([1, 8, 8, 2], [1, 1, 2, 4], "valid"))).toEqual([0, 0, 0, 0]);
    // "same" with an even filter puts the odd row below and right, so the flip pads above.
    expect(inputGradientPadding(info([1, 8, 8, 2], [4, 2, 2, 4], "same"))).toEqual([2, 1, 1, 0]);
    expect(
      inputGradientPadding(
        info(
          [1, 8, 9, 2],
          [5, 3, 2, 4],
          [
            [0, 0],
            [2, 1],
            [0, 2],
            [0, 0],
          ],
        ),
      ),
    ).toEqual([2, 3, 2, 0]);
  });

  it("is undefined where the forward padding exceeds what the filter allows", () => {
    expect(
      inputGradientPadding(
        info(
          [1, 8, 8, 2],
          [3, 3, 2, 4],
          [
            [0, 0],
            [3, 0],
            [0, 0],
            [0, 0],
          ],
        ),
      ),
    ).toBeUndefined();
  });
});

describe.skipIf(nativePackage === undefined)("Conv2DBackpropInput as Conv2D on tensorflow", () => {
  let backend: NativeBackend;
  beforeAll(async () => {
    await selectBackend({ backend: "tensorflow", env, log: () => {} });
    backend = activeNativeBackend() as NativeBackend;
  });
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  // DenseNet's 3×3 growth convolution (32 → 128 channels back) at 14×14, a 1×1 bottleneck with
  // odd channel counts, and a non-square 2×5 "valid" filter.
  const cases: Array<{
    name: string;
    x: [number, number, number, number];
    filter: [number, number, number, number];
    padding: "SAME" | "VALID";
  }> = [
    { name: "3x3 same, 128 -> 32", x: [2, 14, 14, 128], filter: [3, 3, 128, 32], padding: "SAME" },
    { name: "1x1, 37 -> 20", x: [3, 9, 7, 37], filter: [1, 1, 37, 20], padding: "VALID" },
    { name: "2x5 valid, 5 -> 9", x: [2, 8, 10, 5], filter: [2, 5, 5, 9], padding: "VALID" },
    { name: "4x4 same, 3 -> 6", x: [1, 9, 8, 3], filter: [4, 4, 3, 6], padding: "SAME" },
  ];
  for (const spec of cases) {
    it(`equals TensorFlow's Conv2DBackpropInput for ${spec.name}`, () => {
      const [n, h, w] = spec.x;
      const [kh, kw, , o] = spec.filter;
      const same = spec.padding === "SAME";
      const filter = normal(spec.filter, `ig-w-${spec.name}`) as tf.Tensor4D;
      const dy = normal(
        [n, same ? h : h - kh + 1, same ? w : w - kw + 1, o],
        `ig-dy-${spec.name}`,
      ) as tf.Tensor4D;
      const pads = inputGradientPadding(
        tf.backend_util.computeConv2DInfo(spec.x, spec.filter, 1, 1, same ? "same" : "valid"),
      );
      expect(pads).toBeDefined();
      const ours = nativeConv2DBackpropInputAsConv2D(
        backend,
        dy,
        filter,
        pads as [number, number, number, number],
      );
      const theirs = nativeTensorflowInputGradient(backend, dy, filter, spec.x, spec.padding);
      expect(ours.shape).toEqual(spec.x);
      expect(relativeDifference(ours, theirs)).toBeLessThan(1e-5);
      tf.dispose([filter, dy, ours, theirs]);
    });
  }

  // DenseNet's 3×3 growth filter, a 1×1 one with odd channel counts (tiles of 16 and a
  // remainder) and a non-square 7×2 one.
  const filters: Array<[number, number, number, number]> = [
    [3, 3, 128, 32],
    [1, 1, 37, 20],
    [7, 2, 3, 69],
  ];
  for (const shape of filters) {
    it(`flips and transposes a ${shape.join("x")} filter in one op, as ReverseV2 and Transpose do`, (context) => {
      if (!hasMedfmKernels(backend)) context.skip();
      const filter = normal(shape, `ig-flip-${shape.join("x")}`) as tf.Tensor4D;
      const theirs = tensorflowFlipSwapFilter(backend, filter);
      expect(theirs.shape).toEqual([shape[0], shape[1], shape[3], shape[2]]);
      // The reference itself: element [i, j, o, c] is the filter's [KH-1-i, KW-1-j, c, o].
      const [kh, kw, c, o] = shape;
      const source = filter.dataSync();
      const flipped = theirs.dataSync();
      const at = (i: number, j: number, ci: number, oi: number) =>
        source[((kh - 1 - i) * kw + (kw - 1 - j)) * c * o + ci * o + oi];
      expect(flipped[((kh - 1) * kw + 0) * o * c + 2 * c + 1]).toBe(at(kh - 1, 0, 1, 2));
      expect(flipped[0]).toBe(at(0, 0, 0, 0));
      const ours = nativeFlipSwapFilter(backend, filter);
      expect(ours.shape).toEqual(theirs.shape);
      expect(maxDifference(ours, theirs)).toBe(0);
      // Through it, the input gradient equals the one through TensorFlow's ops.
      const dy = normal([2, 6, 5, shape[3]], `ig-flip-dy-${shape.join("x")}`) as tf.Tensor4D;
      const pads = [shape[0] - 1, shape[0] - 1, shape[1] - 1, shape[1] - 1] as const;
      const viaOurs = nativeConv2DBackpropInputAsConv2D(backend, dy, filter, pads, true);
      const viaTheirs = nativeConv2DBackpropInputAsConv2D(backend, dy, filter, pads, false);
      expect(maxDifference(viaOurs, viaTheirs)).toBe(0);
      tf.dispose([filter, theirs, ours, dy, viaOurs, viaTheirs]);
    });
  }

  it("has the one-op flip on this binding, and names the fault when the filter is not rank 4", (context) => {
    // Bindings built without our kernels (a GPU build) use ReverseV2 and Transpose instead.
    if (!hasMedfmKernels(backend)) context.skip();
    // Probed where the input gradient takes the forward form, which the setting forces here.
    expect(
      tensorflowCapabilities(backend, { MEDFM_INPUT_GRADIENT: "medfm" }).medfmFlipSwapFilter,
    ).toBe(true);
    expect(
      tensorflowCapabilities(backend, { MEDFM_INPUT_GRADIENT: "tensorflow" }).medfmFlipSwapFilter,
    ).toBe(false);
    const filter = tf.zeros([3, 3, 4]) as unknown as tf.Tensor4D;
    expect(() => nativeFlipSwapFilter(backend, filter).dataSync()).toThrow(
      /MedfmFlipSwapFilter: filter rank 3, expected 4/,
    );
    filter.dispose();
  });

  it("runs tfjs's conv2d gradient where chosen, with the cpu backend's values", async () => {
    const chosen = tensorflowCapabilities(backend).conv2DBackpropInputAsConv2D;
    expect(chosen).toBe(
      chooseInputGradient(cpuFlags(), process.env.MEDFM_INPUT_GRADIENT) === "medfm" &&
        backend.isUsingGpuDevice !== true,
    );
    type Pad = "same" | "valid" | tf.backend_util.ExplicitPadding;
    // Batch 4 at 16×16 is 1024 output positions, above the threshold; 4 at 7×7 (196) is below
    // it for a 3×3 filter but not for a 1×1 one; stride 2 stays with tfjs-node's kernel. The
    // explicit padding is one tfjs-node's Conv2DBackpropInput refuses.
    expect(4 * 16 * 16).toBeGreaterThanOrEqual(INPUT_GRADIENT_MIN_POSITIONS);
    expect(4 * 7 * 7).toBeLessThan(INPUT_GRADIENT_MIN_POSITIONS);
    const settings: Array<{ size: number; filter: number; stride: number; pad: Pad }> = [
      { size: 16, filter: 3, stride: 1, pad: "same" },
      { size: 16, filter: 3, stride: 1, pad: "valid" },
      { size: 7, filter: 3, stride: 1, pad: "same" },
      { size: 7, filter: 1, stride: 1, pad: "valid" },
      { size: 16, filter: 3, stride: 2, pad: "same" },
      ...(chosen
        ? [
            {
              size: 16,
              filter: 5,
              stride: 1,
              pad: [
                [0, 0],
                [2, 1],
                [0, 2],
                [0, 0],
              ] as tf.backend_util.ExplicitPadding,
            },
          ]
        : []),
    ];
    const grads = ({ size, filter, stride, pad }: (typeof settings)[number]) => {
      const key = `ig-grad-${size}-${filter}-${stride}-${JSON.stringify(pad)}`;
      const x = normal([4, size, size, 6], `${key}-x`) as tf.Tensor4D;
      const w = normal([filter, filter, 6, 5], `${key}-w`) as tf.Tensor4D;
      const dx = tf.grad((input: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(input as tf.Tensor4D, w, stride, pad))),
      )(x);
      const values = dx.dataSync().slice();
      tf.dispose([x, w, dx]);
      return values;
    };
    const native = recordNativeOps();
    const results = settings.map(grads);
    native.restore();
    const names = native
      .names()
      .filter((name) => name === "Conv2DBackpropInput" || name === "Conv2D");
    // Each setting runs its forward Conv2D, then its input gradient: a forward Conv2D where
    // chosen (above the threshold or 1×1), TensorFlow's otherwise. The 1×1 stride-1 one runs
    // neither where pointwise convolutions are products (MatMul, pointwise-conv2d.test.ts).
    const pointwiseAsMatMul = tensorflowCapabilities(backend).pointwiseConvAsMatMul;
    const forwardForm = [true, true, false, true, false, true];
    expect(names).toEqual(
      settings.flatMap((setting, index) =>
        pointwiseAsMatMul && setting.filter === 1 && setting.stride === 1
          ? []
          : ["Conv2D", chosen && forwardForm[index] ? "Conv2D" : "Conv2DBackpropInput"],
      ),
    );
    await tf.setBackend("cpu");
    for (const [index, setting] of settings.entries()) {
      const expected = grads(setting);
      const actual = results[index] as Float32Array;
      const scale = Math.max(...expected.map(Math.abs));
      const error = Math.max(...expected.map((value, i) => Math.abs(value - (actual[i] ?? 0))));
      expect(error / scale, JSON.stringify(setting)).toBeLessThan(1e-5);
    }
    await selectBackend({ backend: "tensorflow", env, log: () => {} });
  });

  it("follows MEDFM_INPUT_GRADIENT and refuses a bad value", () => {
    expect(
      tensorflowCapabilities(backend, { MEDFM_INPUT_GRADIENT: "tensorflow" })
        .conv2DBackpropInputAsConv2D,
    ).toBe(false);
    expect(
      tensorflowCapabilities(backend, { MEDFM_INPUT_GRADIENT: "medfm" })
        .conv2DBackpropInputAsConv2D,
    ).toBe(true);
    expect(() => tensorflowCapabilities(backend, { MEDFM_INPUT_GRADIENT: "fast" })).toThrow(
      /MEDFM_INPUT_GRADIENT="fast"/,
    );
  });
});
