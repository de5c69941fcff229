import * as tf from "@tensorflow/tfjs";
import type { NativeAttr, NativeBackend } from "./native-ops";

/** One tfjs variable's TensorFlow resource variables: its value and its momentum buffer. */
interface Mirror {
  /** Resource handle of the value (a `string` tfjs tensor holding a DT_RESOURCE handle). */
  value: tf.Tensor;
  /** Resource handle of the momentum buffer. */
  buffer: tf.Tensor;
  /** The tfjs variable's data when the mirror last matched it; another means it was assigned. */
  dataId: object;
  /** The variable's shape. */
  shape: readonly number[];
}

let handles = 0;

/**
 * SGD with momentum as one TensorFlow op per variable (`ResourceApplyMomentum`), for the native
 * `tensorflow` backend. tfjs-node has no resource variables, so each tfjs variable gets a
 * TensorFlow resource variable beside it (and one for its momentum buffer), created on its first
 * update; after each update the tfjs variable is pointed at the new value (`ReadVariableOp`,
 * which shares the buffer, no copy). Two ops per variable and step, where tfjs ops need four
 * (two multiplications, an addition, a subtraction), and one pass over the data instead of four.
 * A tfjs variable assigned from outside (weights loaded, a checkpoint restored) is noticed and
 * copied over before its next update.
 *
 * The update is torch's with dampening 0: `buf = μ·buf + g; p −= lr·buf`, or with Nesterov
 * `p −= lr·(g + μ·buf)`; a buffer starts at zero, which gives torch's `buf = g` on the first step.
 */
export class NativeMomentum {
  private readonly mirrors = new Map<string, Mirror>();
  private readonly floatType: NativeAttr;

  /** @param backend the active native backend (see `activeNativeBackend`). */
  constructor(
    private readonly backend: NativeBackend,
    private readonly nesterov: boolean,
  ) {
    this.floatType = {
      name: "dtype",
      type: backend.binding.TF_ATTR_TYPE,
      value: backend.binding.TF_FLOAT,
    };
  }

  /**
   * Applies one update to every variable with a gradient. `initialBuffers` gives the momentum
   * buffer of a variable met for the first time (a restored state); others start at zero.
   * Run inside `tf.tidy`.
   */
  step(
    variables: readonly tf.Variable[],
    gradients: Record<string, tf.Tensor>,
    lr: tf.Scalar,
    momentum: tf.Scalar,
    decay: tf.Scalar | undefined,
    initialBuffers: (name: string) => tf.Tensor | undefined,
  ): void {
    const { binding } = this.backend;
    const attrs: NativeAttr[] = [
      { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
      { name: "use_locking", type: binding.TF_ATTR_BOOL, value: false },
      { name: "use_nesterov", type: binding.TF_ATTR_BOOL, value: this.nesterov },
    ];
    for (const variable of variables) {
      const gradient = gradients[variable.name];
      if (!gradient) continue;
      let mirror = this.mirrors.get(variable.name);
      if (mirror === undefined) {
        const value = tf.keep(this.handle(variable.shape));
        const buffer = tf.keep(this.handle(variable.shape));
        this.assign(value, variable);
        this.assign(buffer, initialBuffers(variable.name) ?? tf.zerosLike(variable));
        mirror = { value, buffer, dataId: variable.dataId, shape: variable.shape };
        this.mirrors.set(variable.name, mirror);
      } else if (mirror.dataId !== variable.dataId) {
        this.assign(mirror.value, variable);
      }
      const update = decay ? gradient.add(variable.mul(decay)) : gradient;
      this.backend.executeMultipleOutputs(
        "ResourceApplyMomentum",
        attrs,
        [mirror.value, mirror.buffer, lr, update, momentum],
        0,
      );
      variable.assign(this.read(mirror.value, variable.shape));
      mirror.dataId = variable.dataId;
    }
  }

  /** The momentum buffers, by variable name (tensors owned by the caller). */
  buffers(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [name, mirror] of this.mirrors) {
      // The read shares the buffer's memory; TensorFlow copies before the next update writes to
      // memory that a read still holds, so the copy given out never changes.
      out.set(name, this.read(mirror.buffer, mirror.shape));
    }
    return out;
  }

  /** Frees every resource variable. */
  dispose(): void {
    const { binding } = this.backend;
    for (const mirror of this.mirrors.values()) {
      for (const handle of [mirror.value, mirror.buffer]) {
        this.backend.executeMultipleOutputs(
          "DestroyResourceOp",
          [{ name: "ignore_lookup_error", type: binding.TF_ATTR_BOOL, value: true }],
          [handle],
          0,
        );
        handle.dispose();
      }
    }
    this.mirrors.clear();
  }

  private handle(shape: readonly number[]): tf.Tensor {
    const { binding } = this.backend;
    handles += 1;
    return this.backend.executeSingleOutput(
      "VarHandleOp",
      [
        { name: "container", type: binding.TF_ATTR_STRING, value: "" },
        // Unique, so that no two optimizers (or processes sharing a name) share a variable.
        { name: "shared_name", type: binding.TF_ATTR_STRING, value: `medfm_sgd_${handles}` },
        this.floatType,
        { name: "shape", type: binding.TF_ATTR_SHAPE, value: [...shape] },
      ],
      [],
    );
  }

  private assign(handle: tf.Tensor, value: tf.Tensor): void {
    this.backend.executeMultipleOutputs(
      "AssignVariableOp",
      [
        this.floatType,
        { name: "validate_shape", type: this.backend.binding.TF_ATTR_BOOL, value: true },
      ],
      [handle, value],
      0,
    );
  }

  /**
   * The variable's value. `_medfm_shape` (a private attribute, which TensorFlow passes over)
   * names its shape: the asynchronous binding (scripts/native-backend/patch-binding.py) cannot
   * infer it from the handle, and would otherwise wait for every read.
   */
  private read(handle: tf.Tensor, shape: readonly number[]): tf.Tensor {
    const shapeAttr: NativeAttr = {
      name: "_medfm_shape",
      type: this.backend.binding.TF_ATTR_SHAPE,
      value: [...shape],
    };
    return this.backend.executeSingleOutput(
      "ReadVariableOp",
      [this.floatType, shapeAttr],
      [handle],
    );
  }
}
