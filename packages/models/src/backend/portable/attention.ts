import * as tf from "@tensorflow/tfjs";
import { type AttentionAttrs, MedfmAttention } from "../kernel-names";
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
