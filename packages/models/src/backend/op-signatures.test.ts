import { MEDFM_OPS, medfmOpSignature } from "@medfm/native-backend";
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { env, nativePackage } from "./__fixtures__/test-backends";
import { bindingOpSignatures, hasMedfmOp, type NativeBackend } from "./native-ops";
import { selectBackend } from "./select-backend";

/**
 * A stand-in for tfjs-node's backend whose binding carries our kernels and answers
 * `MedfmOpSignatures` with `lines` (or, without lines, fails as a binding that lacks the op).
 */
function bindingReporting(lines?: string[]): NativeBackend {
  const backend = {
    binding: { medfmKernels: 1 },
    isUsingGpuDevice: false,
    executeSingleOutput: (name: string) => {
      if (lines === undefined || name !== MEDFM_OPS.opSignatures.name) {
        throw new Error(`Op type not registered '${name}' in binary`);
      }
      const bytes = new TextEncoder().encode(lines.map((line) => `${line}\n`).join(""));
      return tf.tensor1d(Int32Array.from(bytes), "int32");
    },
  };
  return backend as unknown as NativeBackend;
}

describe("which of our ops a binding may be asked to run", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  it("reads the signatures a binding reports and calls only ops declared as built", async () => {
    await tf.setBackend("cpu");
    // A binding whose attention op still has one input, as before `layout` was added.
    const stale = { ...MEDFM_OPS.attention, inputs: ["qkv: float"] };
    const reported = [
      medfmOpSignature(MEDFM_OPS.gelu),
      medfmOpSignature(MEDFM_OPS.geluGrad),
      medfmOpSignature(stale),
    ];
    const backend = bindingReporting(reported);
    expect(bindingOpSignatures(backend)).toEqual(new Set(reported));
    expect(hasMedfmOp(backend, MEDFM_OPS.gelu)).toBe(true);
    expect(hasMedfmOp(backend, MEDFM_OPS.attention)).toBe(false);
    expect(hasMedfmOp(backend, MEDFM_OPS.concatBatchNormRelu)).toBe(false);
  });

  it("trusts a binding too old to report them only with the ops unchanged since", async () => {
    await tf.setBackend("cpu");
    const backend = bindingReporting();
    expect(bindingOpSignatures(backend)).toBeNull();
    expect(hasMedfmOp(backend, MEDFM_OPS.gelu)).toBe(true);
    expect(hasMedfmOp(backend, MEDFM_OPS.attentionGrad)).toBe(true);
    // Given its second input, the old attention op would crash the process in TensorFlow.
    expect(hasMedfmOp(backend, MEDFM_OPS.attention)).toBe(false);
    expect(hasMedfmOp(backend, MEDFM_OPS.concatBatchNormRelu)).toBe(false);
  });

  it("calls none on a GPU build or a binding without our kernels", async () => {
    await tf.setBackend("cpu");
    const gpu = { ...bindingReporting([medfmOpSignature(MEDFM_OPS.gelu)]), isUsingGpuDevice: true };
    expect(hasMedfmOp(gpu as NativeBackend, MEDFM_OPS.gelu)).toBe(false);
    const plain = { ...bindingReporting(), binding: { medfmKernels: 0 } };
    expect(hasMedfmOp(plain as unknown as NativeBackend, MEDFM_OPS.gelu)).toBe(false);
    expect(bindingOpSignatures(plain as unknown as NativeBackend)).toBeNull();
  });

  it.skipIf(!nativePackage)(
    "finds every op of MEDFM_OPS in the provisioned binding as declared",
    async () => {
      await selectBackend({ backend: "tensorflow", env, log: () => {} });
      const backend = tf.backend() as unknown as NativeBackend;
      const signatures = bindingOpSignatures(backend);
      expect(signatures).not.toBeNull();
      expect([...(signatures ?? [])].sort()).toEqual(
        Object.values(MEDFM_OPS).map(medfmOpSignature).sort(),
      );
      for (const op of Object.values(MEDFM_OPS))
        expect(hasMedfmOp(backend, op), op.name).toBe(true);
    },
  );
});
