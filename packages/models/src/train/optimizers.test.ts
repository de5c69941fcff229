import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { activeNativeBackend, hasMedfmKernels, nativeApplyMomentum } from "../backend/native-ops";
import { provisionedNativePackage } from "../native/provisioned-native-backend";
import { useNativeBackend } from "../native/use-native-backend";
import fixture from "./__fixtures__/torch-train.json";
import { adamw, clipGradientsByGlobalNorm, type Optimizer, sgd } from "./optimizers";

const reference = fixture.optimizer;

function run(optimizer: Optimizer): number[][][] {
  const variables = reference.init.map((values, index) =>
    tf.variable(tf.tensor(values, reference.shapes[index] as number[])),
  );
  const trajectory: number[][][] = [];
  reference.grads.forEach((stepGrads, step) => {
    const gradients: Record<string, tf.Tensor> = {};
    variables.forEach((variable, index) => {
      gradients[variable.name] = tf.tensor(stepGrads[index], reference.shapes[index] as number[]);
    });
    optimizer.step(variables, gradients, reference.lrs[step]);
    tf.dispose(Object.values(gradients));
    trajectory.push(variables.map((variable) => Array.from(variable.dataSync())));
  });
  tf.dispose(variables);
  optimizer.dispose();
  return trajectory;
}

function expectClose(actual: number[][][], expected: number[][][]): void {
  let worst = 0;
  for (const [s, step] of actual.entries()) {
    for (const [v, values] of step.entries()) {
      for (const [i, value] of values.entries()) {
        worst = Math.max(worst, Math.abs(value - expected[s][v][i]));
      }
    }
  }
  expect(worst).toBeLessThan(1e-5);
}

describe("optimizers match torch.optim", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("SGD with momentum 0.9 and weight decay 1e-4", () => {
    expectClose(run(sgd({ momentum: 0.9, weightDecay: 1e-4 })), reference.sgd);
  });

  it("SGD with Nesterov momentum", () => {
    expectClose(
      run(sgd({ momentum: 0.9, nesterov: true, weightDecay: 1e-3 })),
      reference.sgd_nesterov,
    );
  });

  it("AdamW with decoupled weight decay", () => {
    expectClose(run(adamw({ weightDecay: 0.05 })), reference.adamw);
  });

  it("round-trips its state so a resumed run continues identically", () => {
    const gradientValues = [0.5, -1, 2];
    // Uninterrupted: two steps.
    const straight = sgd({ momentum: 0.9 });
    const a = tf.variable(tf.tensor1d([1, 2, 3]), true, "resume-test-a");
    const gradientA = { [a.name]: tf.tensor1d(gradientValues) };
    straight.step([a], gradientA, 0.1);
    straight.step([a], gradientA, 0.1);
    const expected = Array.from(a.dataSync());
    // Interrupted: one step, save, rebuild the variable under the same name, restore, one step.
    const first = sgd({ momentum: 0.9 });
    const b = tf.variable(tf.tensor1d([1, 2, 3]), true, "resume-test-b");
    const gradientB = { [b.name]: tf.tensor1d(gradientValues) };
    first.step([b], gradientB, 0.1);
    const state = first.getState();
    const saved = b.clone();
    first.dispose();
    b.dispose();
    const rebuilt = tf.variable(saved, true, "resume-test-b");
    const resumed = sgd({ momentum: 0.9 });
    resumed.setState(state);
    resumed.step([rebuilt], gradientB, 0.1);
    expect(state.step).toBe(1);
    expect(Array.from(rebuilt.dataSync())).toEqual(expected);
    tf.dispose([a, rebuilt, saved, gradientA[a.name], gradientB["resume-test-b"]]);
    tf.dispose(Object.values(state.slots).flatMap((slots) => Object.values(slots)));
    straight.dispose();
    resumed.dispose();
  });

  it("does not leak tensors across steps", () => {
    const optimizer = adamw();
    const variable = tf.variable(tf.ones([8]));
    const gradient = { [variable.name]: tf.fill([8], 0.25) };
    optimizer.step([variable], gradient, 0.01);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i += 1) optimizer.step([variable], gradient, 0.01);
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    tf.dispose([variable, gradient[variable.name]]);
  });

  it("clips gradients to a global norm and reports the norm before clipping", () => {
    const gradients = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
    const { gradients: clipped, norm } = clipGradientsByGlobalNorm(gradients, 1);
    expect(norm).toBeCloseTo(5, 5);
    const clippedNorm = Math.hypot(...clipped.a.dataSync(), ...clipped.b.dataSync());
    expect(clippedNorm).toBeCloseTo(1, 4);
    tf.dispose([...Object.values(gradients), ...Object.values(clipped)]);
  });

  it("rejects an out-of-range momentum naming the value", () => {
    expect(() => sgd({ momentum: 1.5 })).toThrow(/momentum must be in \[0, 1\], got 1.5/);
  });
});

const nativePackage = provisionedNativePackage();
if (nativePackage === undefined) {
  console.warn(
    "[optimizers.test] native SGD skipped: native TensorFlow backend not provisioned (run `pnpm medfm backend install` or set MEDFM_TFJS_NODE_PATH)",
  );
}

describe.runIf(nativePackage !== undefined)("sgd on the native tensorflow backend", () => {
  /** Ops run by name on the native backend during `body`, counted by name. */
  function countOps(body: () => void): Map<string, number> {
    const backend = activeNativeBackend()!;
    const counts = new Map<string, number>();
    const count = (name: string) => counts.set(name, (counts.get(name) ?? 0) + 1);
    const single = vi.spyOn(backend, "executeSingleOutput");
    const multiple = vi.spyOn(backend, "executeMultipleOutputs");
    try {
      body();
    } finally {
      for (const call of single.mock.calls) count(call[0]);
      for (const call of multiple.mock.calls) count(call[0]);
      single.mockRestore();
      multiple.mockRestore();
    }
    return counts;
  }

  useNativeBackend(nativePackage);

  it("matches torch.optim.SGD (momentum, weight decay) with one native op per step", () => {
    let trajectory: number[][][] = [];
    const ops = countOps(() => {
      trajectory = run(sgd({ momentum: 0.9, weightDecay: 1e-4 }));
    });
    expectClose(trajectory, reference.sgd);
    expect(ops.get("MedfmApplyMomentum")).toBe(reference.grads.length);
    // Nothing else runs by name but each buffer's zeros, once: the update is the kernel alone.
    expect(ops.get("ZerosLike")).toBe(reference.shapes.length);
    expect([...ops.keys()].sort()).toEqual(["MedfmApplyMomentum", "ZerosLike"]);
  });

  it("matches torch.optim.SGD with Nesterov momentum", () => {
    let trajectory: number[][][] = [];
    const ops = countOps(() => {
      trajectory = run(sgd({ momentum: 0.9, nesterov: true, weightDecay: 1e-3 }));
    });
    expectClose(trajectory, reference.sgd_nesterov);
    expect(ops.get("MedfmApplyMomentum")).toBe(reference.grads.length);
  });

  it("updates only the variables given a gradient", () => {
    const a = tf.variable(tf.tensor1d([1, 2]));
    const b = tf.variable(tf.tensor2d([[3, 4]]));
    const optimizer = sgd({ momentum: 0.5 });
    const gradient = { [b.name]: tf.tensor2d([[1, -1]]) };
    optimizer.step([a, b], gradient, 0.1);
    optimizer.step([a, b], gradient, 0.1);
    expect(Array.from(a.dataSync())).toEqual([1, 2]);
    // buf = g, then 0.5·g + g = 1.5·g; p = p − 0.1·g − 0.15·g.
    expect(Array.from(b.dataSync())).toEqual([3 - 0.25, 4 + 0.25].map(Math.fround));
    expect(Object.keys(optimizer.getState().slots)).toEqual([b.name]);
    optimizer.dispose();
    tf.dispose([a, b, gradient[b.name]]);
  });

  it("runs on a binding that carries the medfm kernels (else run `medfm backend install` again)", () => {
    expect(hasMedfmKernels(activeNativeBackend()!)).toBe(true);
  });

  it("names the variable whose gradient does not fit it", async () => {
    const backend = activeNativeBackend()!;
    const scalars = { lr: tf.scalar(0.1), momentum: tf.scalar(0.9), weightDecay: tf.scalar(0) };
    const params = [tf.tensor1d([1, 2]), tf.tensor1d([1, 2, 3])];
    const grads = [tf.tensor1d([1, 1]), tf.tensor1d([1, 1])];
    const moments = params.map((param) => tf.zerosLike(param));
    const outputs = nativeApplyMomentum(backend, scalars, { params, grads, moments }, false);
    // Ops run asynchronously: the kernel's error arrives with the next read.
    await expect(outputs.params[0].data()).rejects.toThrow(
      "MedfmApplyMomentum: variable 1 has 3 elements but its gradient 2 and its buffer 3",
    );
    expect(() =>
      nativeApplyMomentum(backend, scalars, { params, grads: grads.slice(1), moments }, false),
    ).toThrow("nativeApplyMomentum: 2 variables but 1 gradients and 2 buffers");
    tf.dispose([...Object.values(scalars), ...params, ...grads, ...moments]);
    tf.dispose([...outputs.params, ...outputs.moments]);
  });

  it("keeps tfjs's ops where TensorFlow's update differs (dampening)", () => {
    const ops = countOps(() => {
      const variable = tf.variable(tf.tensor1d([1, 2]));
      const optimizer = sgd({ momentum: 0.9, dampening: 0.5 });
      const gradient = { [variable.name]: tf.tensor1d([1, -1]) };
      optimizer.step([variable], gradient, 0.1);
      optimizer.step([variable], gradient, 0.1);
      // torch: buf = g, then 0.9·g + 0.5·g = 1.4·g; p = p − 0.1·g − 0.14·g.
      expect(Array.from(variable.dataSync())).toEqual([1 - 0.24, 2 + 0.24].map(Math.fround));
      optimizer.dispose();
      tf.dispose([variable, gradient[variable.name]]);
    });
    expect(ops.get("MedfmApplyMomentum")).toBeUndefined();
  });

  it("notices a variable assigned between steps and updates from the new value", () => {
    const variable = tf.variable(tf.tensor1d([1, 2, 3]));
    const optimizer = sgd({ momentum: 0.9 });
    const gradient = { [variable.name]: tf.tensor1d([1, 1, 1]) };
    optimizer.step([variable], gradient, 0.5);
    // Loading weights, say: the next update must start from these values.
    variable.assign(tf.tensor1d([10, 20, 30]));
    optimizer.step([variable], gradient, 0.5);
    // buf = 1 then 0.9 + 1 = 1.9; p = [10, 20, 30] − 0.5·1.9.
    expect(Array.from(variable.dataSync())).toEqual([9.05, 19.05, 29.05].map(Math.fround));
    optimizer.dispose();
    tf.dispose([variable, gradient[variable.name]]);
  });

  it("round-trips its state: a resumed run continues identically", () => {
    const gradient = tf.tensor1d([0.5, -1, 2]);
    const options = { momentum: 0.9, weightDecay: 0.01 };
    const straight = sgd(options);
    const a = tf.variable(tf.tensor1d([1, 2, 3]), true, "native-resume-a");
    for (let i = 0; i < 3; i += 1) straight.step([a], { [a.name]: gradient }, 0.1);
    const expected = Array.from(a.dataSync());
    // Two steps, a snapshot, and a third step that must not reach the snapshot's tensors.
    const first = sgd(options);
    const b = tf.variable(tf.tensor1d([1, 2, 3]), true, "native-resume-b");
    first.step([b], { [b.name]: gradient }, 0.1);
    first.step([b], { [b.name]: gradient }, 0.1);
    const state = first.getState();
    const saved = Array.from(b.dataSync());
    const buffer = Array.from(state.slots[b.name].momentum.dataSync());
    first.step([b], { [b.name]: gradient }, 0.1);
    expect(Array.from(b.dataSync())).toEqual(expected);
    expect(Array.from(state.slots[b.name].momentum.dataSync())).toEqual(buffer);
    // A new optimizer and variable, restored from the snapshot, take the third step alike.
    const rebuilt = tf.variable(tf.tensor1d(saved), true, "native-resume-c");
    const resumed = sgd(options);
    resumed.setState({ step: state.step, slots: { [rebuilt.name]: state.slots[b.name] } });
    const ops = countOps(() => resumed.step([rebuilt], { [rebuilt.name]: gradient }, 0.1));
    expect(ops.get("MedfmApplyMomentum")).toBe(1);
    expect(Array.from(rebuilt.dataSync())).toEqual(expected);
    // The restored buffer shares its tensor with the snapshot: the update must not write to it.
    expect(Array.from(state.slots[b.name].momentum.dataSync())).toEqual(buffer);
    expect(resumed.getState().step).toBe(3);
    tf.dispose(Object.values(state.slots).flatMap((slots) => Object.values(slots)));
    for (const optimizer of [straight, first, resumed]) optimizer.dispose();
    tf.dispose([a, b, rebuilt, gradient]);
  });

  it("does not leak tensors across steps, and dispose() frees its buffers", () => {
    const before = tf.memory().numTensors;
    const optimizer = sgd({ momentum: 0.9, weightDecay: 1e-4 });
    const variable = tf.tidy(() => tf.variable(tf.ones([8])));
    const gradient = { [variable.name]: tf.fill([8], 0.25) };
    optimizer.step([variable], gradient, 0.01);
    const afterFirst = tf.memory().numTensors;
    for (let i = 0; i < 5; i += 1) optimizer.step([variable], gradient, 0.01);
    expect(tf.memory().numTensors).toBe(afterFirst);
    optimizer.dispose();
    tf.dispose([variable, gradient[variable.name]]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
