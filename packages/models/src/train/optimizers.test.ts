import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
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
