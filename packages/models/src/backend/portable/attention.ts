import * as tf from "@tensorflow/tfjs";
import {
  type AttentionAttrs,
  MedfmAttention,
  MedfmAttentionGrad,
  MedfmScaledSoftmaxGrad,
} from "../kernel-names";
import { scaledSoftmaxComposite } from "./scaled-softmax";

/** `qkv` `[B, T, 3·heads·D]` as queries, keys and values, each `[B, heads, T, D]`. */
export function splitHeads(qkv: tf.Tensor, heads: number): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  return tf.tidy(() => {
    const [batch, tokens, width] = qkv.shape as [number, number, number];
    const depth = width / (3 * heads);
    const parts = tf.transpose(tf.reshape(qkv, [batch, tokens, 3, heads, depth]), [2, 0, 3, 1, 4]);
    return tf.split(parts, 3, 0).map((part) => tf.reshape(part, [batch, heads, tokens, depth])) as [
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor4D,
    ];
  });
}

/**
 * Whether `qkv` and `attrs` are a valid {@link MedfmAttention} call: `qkv` `[B, T, 3·heads·D]`,
 * `heads` a positive integer and `queries` an integer in `0..T`.
 */
export function isAttentionInput(
  qkv: tf.Tensor,
  { heads, queries }: Pick<AttentionAttrs, "heads" | "queries">,
): boolean {
  const [, tokens = 0, width = 0] = qkv.shape;
  return (
    qkv.rank === 3 &&
    Number.isInteger(heads) &&
    heads >= 1 &&
    width % (3 * heads) === 0 &&
    Number.isInteger(queries) &&
    queries >= 0 &&
    queries <= tokens
  );
}

/**
 * {@link MedfmAttention} as tfjs ops, timm's order: the scale on q, `q·kᵀ`, the softmax,
 * `·v`, the heads merged. Returns `[context, probabilities]`.
 *
 * @throws Error when `qkv` is not `[B, T, 3·heads·D]` or `queries` is outside `0..T`.
 */
export function attentionComposite(
  qkv: tf.Tensor,
  { heads, queries, scale }: AttentionAttrs,
): [tf.Tensor3D, tf.Tensor4D] {
  const [batch, tokens, width] = qkv.shape;
  if (!isAttentionInput(qkv, { heads, queries })) {
    throw new Error(
      `${MedfmAttention}: qkv [${qkv.shape.join(", ")}] with heads ${heads} and queries ` +
        `${queries}: expected [B, T, 3·heads·D] and 0 <= queries <= T`,
    );
  }
  return tf.tidy(() => {
    const rows = queries === 0 ? (tokens as number) : queries;
    const [allQueries, key, value] = splitHeads(qkv, heads);
    const query =
      rows < (tokens as number)
        ? tf.slice(allQueries, [0, 0, 0, 0], [-1, -1, rows, -1])
        : allQueries;
    // The scale on q (under a third of the logits' size), as timm applies it.
    const probabilities = scaledSoftmaxComposite(
      tf.matMul(tf.mul(query, scale), key, false, true),
      1,
    ) as tf.Tensor4D;
    const context = tf.transpose(tf.matMul(probabilities, value), [0, 2, 1, 3]);
    return [
      tf.reshape(context, [batch as number, rows, (width as number) / 3]) as tf.Tensor3D,
      probabilities,
    ];
  });
}

/** {@link MedfmAttention} as {@link attentionComposite}. Runs on any backend. */
export function portableAttention(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmAttention,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { qkv } = inputs as Record<string, tf.Tensor>;
      return attentionComposite(qkv as tf.Tensor, attrs as unknown as AttentionAttrs);
    },
  };
}

/**
 * Whether the tensors and `attrs` are a valid {@link MedfmAttentionGrad} call: a valid
 * {@link MedfmAttention} input `qkv` `[B, T, 3·heads·D]`, `probabilities` and `dProbabilities`
 * `[B, heads, Q, T]` and `dContext` `[B, Q, heads·D]`, Q being `queries` (all T for 0).
 */
export function isAttentionGradInput(
  qkv: tf.Tensor,
  probabilities: tf.Tensor,
  dContext: tf.Tensor,
  dProbabilities: tf.Tensor,
  attrs: Pick<AttentionAttrs, "heads" | "queries">,
): boolean {
  if (!isAttentionInput(qkv, attrs)) return false;
  const [batch, tokens, width] = qkv.shape as [number, number, number];
  const rows = attrs.queries === 0 ? tokens : attrs.queries;
  const same = (tensor: tf.Tensor, shape: number[]) =>
    tensor.rank === shape.length && tensor.shape.every((size, axis) => size === shape[axis]);
  const probabilityShape = [batch, attrs.heads, rows, tokens];
  return (
    same(probabilities, probabilityShape) &&
    same(dProbabilities, probabilityShape) &&
    same(dContext, [batch, rows, width / 3])
  );
}

/**
 * {@link MedfmAttentionGrad} as tfjs ops, from the probabilities P and the outputs' gradients:
 * with dO the context's gradient per head, `dv = Pᵀ·dO`, `dS = softmax′(dO·vᵀ + dP)`
 * ({@link MedfmScaledSoftmaxGrad}), `dq = scale·dS·k` (zero for tokens past Q) and
 * `dk = scale·dSᵀ·q`, stacked back into qkv's layout.
 *
 * @throws Error when the shapes are not those {@link isAttentionGradInput} accepts.
 */
export function attentionGradComposite(
  qkv: tf.Tensor,
  probabilities: tf.Tensor,
  dContext: tf.Tensor,
  dProbabilities: tf.Tensor,
  { heads, queries, scale }: AttentionAttrs,
): tf.Tensor3D {
  if (!isAttentionGradInput(qkv, probabilities, dContext, dProbabilities, { heads, queries })) {
    throw new Error(
      `${MedfmAttentionGrad}: qkv [${qkv.shape.join(", ")}], probabilities ` +
        `[${probabilities.shape.join(", ")}], dContext [${dContext.shape.join(", ")}] and ` +
        `dProbabilities [${dProbabilities.shape.join(", ")}] with heads ${heads} and queries ` +
        `${queries}: expected [B, T, 3·heads·D], [B, heads, Q, T], [B, Q, heads·D] and ` +
        "[B, heads, Q, T]",
    );
  }
  return tf.tidy(() => {
    const [batch, tokens, width] = qkv.shape as [number, number, number];
    const depth = width / (3 * heads);
    const rows = probabilities.shape[2] as number;
    const [query, key, value] = splitHeads(qkv, heads);
    const dOut = tf.transpose(tf.reshape(dContext, [batch, rows, heads, depth]), [0, 2, 1, 3]);
    const dValue = tf.matMul(probabilities as tf.Tensor4D, dOut, true, false);
    const dScores = tf.add(tf.matMul(dOut, value, false, true), dProbabilities);
    const dLogits = tf
      .engine()
      .runKernel(
        MedfmScaledSoftmaxGrad,
        { dy: dScores, y: probabilities },
        { scale: 1 },
      ) as tf.Tensor4D;
    const queryRows = rows < tokens ? tf.slice(query, [0, 0, 0, 0], [-1, -1, rows, -1]) : query;
    let dQuery = tf.mul(tf.matMul(dLogits, key), scale);
    if (rows < tokens) {
      dQuery = tf.pad(dQuery, [
        [0, 0],
        [0, 0],
        [0, tokens - rows],
        [0, 0],
      ]);
    }
    const dKey = tf.mul(tf.matMul(dLogits, queryRows, true, false), scale);
    const stacked = tf.stack([dQuery, dKey, dValue]); // [3, B, heads, T, D]
    return tf.reshape(tf.transpose(stacked, [1, 3, 0, 2, 4]), [
      batch,
      tokens,
      width,
    ]) as tf.Tensor3D;
  });
}

/** {@link MedfmAttentionGrad} as {@link attentionGradComposite}. Runs on any backend. */
export function portableAttentionGrad(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmAttentionGrad,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { qkv, probabilities, dContext, dProbabilities } = inputs as Record<string, tf.Tensor>;
      return attentionGradComposite(
        qkv as tf.Tensor,
        probabilities as tf.Tensor,
        dContext as tf.Tensor,
        dProbabilities as tf.Tensor,
        attrs as unknown as AttentionAttrs,
      );
    },
  };
}
