import { existsSync, readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { provisionedNativePackage } from "../native/provisioned-native-backend";
import { useNativeBackend } from "../native/use-native-backend";
import { activeNativeBackend } from "./native-ops";

// The binding that `pnpm medfm backend install` builds runs ops asynchronously
// (@medfm/native-backend's assets/patch-binding.py) unless MEDFM_TF_ASYNC=0. These tests check what that
// must not change: shapes and values, errors that reach the caller, and later ops after an error.
const nativePackage = provisionedNativePackage();
const patched =
  nativePackage !== undefined &&
  existsSync(`${nativePackage}/binding/tfjs_backend.cc`) &&
  readFileSync(`${nativePackage}/binding/tfjs_backend.cc`, "utf8").includes(
    "medfm: asynchronous eager execution",
  );
const asynchronous = patched && !["0", "false"].includes(process.env.MEDFM_TF_ASYNC ?? "");

if (nativePackage === undefined) {
  console.warn(
    "[native-async.test] skipped: native TensorFlow backend not provisioned (run `pnpm medfm backend install` or set MEDFM_TFJS_NODE_PATH)",
  );
}

/** Shapes and values of the tensors `compute` returns, on the given backend. */
async function shapesAndValues(
  backend: "cpu" | "tensorflow",
  compute: () => tf.Tensor[],
): Promise<Array<{ shape: number[]; values: number[] }>> {
  await tf.setBackend(backend);
  const outputs = tf.tidy(compute);
  const result = await Promise.all(
    outputs.map(async (output) => ({
      shape: output.shape,
      values: Array.from(await output.data()),
    })),
  );
  tf.dispose(outputs);
  return result;
}

describe.runIf(nativePackage !== undefined)("native tensorflow backend, asynchronous ops", () => {
  useNativeBackend(nativePackage);

  it("gives cpu's shapes and values where shapes come from input values or from the data", async () => {
    const compute = () => {
      const x = tf.tensor2d([1, -2, 3, -4, 5, -6], [2, 3]);
      const padded = tf.pad(x, [
        [1, 2],
        [0, 1],
      ]);
      const reshaped = tf.reshape(tf.transpose(padded), [4, 5]);
      const [left, right] = tf.split(reshaped, [2, 3], 1);
      const joined = tf.concat([right, left, tf.relu(left)], 1);
      const summed = tf.sum(joined, 0);
      return [padded, reshaped, joined, summed];
    };
    const cpu = await shapesAndValues("cpu", compute);
    const native = await shapesAndValues("tensorflow", compute);
    expect(native).toEqual(cpu);
    // Where's output shape depends on the data: the binding waits for it.
    const positions = await tf.whereAsync(tf.tensor1d([true, false, true, true], "bool"));
    expect(positions.shape).toEqual([3, 1]);
    expect(Array.from(await positions.data())).toEqual([0, 2, 3]);
    positions.dispose();
  });

  it("reports a kernel's error to the caller, and runs later ops", async () => {
    const native = activeNativeBackend();
    expect(native).toBeDefined();
    const { binding } = native as NonNullable<typeof native>;
    const withNaN = tf.tensor1d([1, Number.NaN, 3]);
    // CheckNumerics passes shape inference and fails inside the kernel.
    const check = () =>
      native?.executeSingleOutput(
        "CheckNumerics",
        [
          { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
          { name: "message", type: binding.TF_ATTR_STRING, value: "medfm async test" },
        ],
        [withNaN],
      ) as tf.Tensor;
    if (asynchronous) {
      const checked = check();
      expect(checked.shape).toEqual([3]);
      await expect(checked.data()).rejects.toThrow(
        /medfm async test : Tensor had NaN values[\s\S]*Set MEDFM_TF_ASYNC=0/,
      );
      checked.dispose();
    } else {
      expect(check).toThrow(/medfm async test : Tensor had NaN values/);
    }
    const doubled = tf.mul(withNaN, 2);
    expect(Array.from(await doubled.data())).toEqual([2, Number.NaN, 6]);
    tf.dispose([withNaN, doubled]);
  });

  it("keeps the tensor count flat over repeated steps", async () => {
    const weights = tf.variable(tf.randomNormal([8, 4], 0, 1, "float32", 3));
    const inputs = tf.randomNormal([16, 8], 0, 1, "float32", 4);
    const optimizer = tf.train.momentum(0.01, 0.9);
    const step = async () => {
      const loss = optimizer.minimize(() => tf.mean(tf.square(tf.matMul(inputs, weights))), true);
      await loss?.data();
      loss?.dispose();
    };
    await step();
    const before = tf.memory().numTensors;
    for (let index = 0; index < 5; index += 1) await step();
    expect(tf.memory().numTensors).toBe(before);
    const first = Array.from(await weights.data());
    expect(first.every(Number.isFinite)).toBe(true);
    tf.dispose([weights, inputs]);
    optimizer.dispose();
  });
  it("reads resource variables with their own shapes (a read waits for its kernel)", async () => {
    const backend = activeNativeBackend()!;
    const { binding } = backend;
    const float = { name: "dtype", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
    let made = 0;
    const variable = (values: tf.Tensor) => {
      made += 1;
      const handle = backend.executeSingleOutput(
        "VarHandleOp",
        [
          { name: "container", type: binding.TF_ATTR_STRING, value: "" },
          { name: "shared_name", type: binding.TF_ATTR_STRING, value: `medfm_async_test_${made}` },
          float,
          { name: "shape", type: binding.TF_ATTR_SHAPE, value: values.shape },
        ],
        [],
      );
      backend.executeMultipleOutputs("AssignVariableOp", [float], [handle, values], 0);
      return handle;
    };
    const matrix = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const vector = tf.tensor1d([7, 8, 9, 10, 11]);
    const handles = [variable(matrix), variable(vector)];
    const read = (handle: tf.Tensor) =>
      backend.executeSingleOutput("ReadVariableOp", [float], [handle]);
    // Twice each: a variable's shape is in neither the read's inputs nor its attributes, so the
    // binding must not reuse a shape it saw for another variable.
    for (let pass = 0; pass < 2; pass += 1) {
      const reads = [read(handles[0]), read(handles[1])];
      expect(reads.map((tensor) => tensor.shape)).toEqual([[2, 3], [5]]);
      const values = await Promise.all(
        reads.map(async (tensor) => Array.from(await tensor.data())),
      );
      expect(values).toEqual([
        [1, 2, 3, 4, 5, 6],
        [7, 8, 9, 10, 11],
      ]);
      tf.dispose(reads);
    }
    for (const handle of handles) {
      backend.executeMultipleOutputs(
        "DestroyResourceOp",
        [{ name: "ignore_lookup_error", type: binding.TF_ATTR_BOOL, value: true }],
        [handle],
        0,
      );
    }
    tf.dispose([...handles, matrix, vector]);
  });
});
