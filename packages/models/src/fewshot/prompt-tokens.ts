import * as tf from "@tensorflow/tfjs";
import type { PromptTokenSettings } from "../backbones/backbone-spec";
import { specOfBackbone } from "../backbones/spec-of";
import { type Classifier, moveClassifierToBackbone } from "../classifier";

/** Options of {@link withPromptTokens}. */
export interface WithPromptTokensOptions extends PromptTokenSettings {
  /** Seed of the prompts' initialisation (default 0). */
  seed?: number;
}

/** The prompt tokens a classifier's backbone has (`tokens: 0` when none or unsupported). */
export function promptTokensOf(classifier: Classifier): PromptTokenSettings {
  const spec = specOfBackbone(classifier.backbone);
  if (spec?.prompts === undefined) return { tokens: 0, deep: false };
  return spec.prompts.promptsOf(classifier.backbone.metadata().config);
}

/**
 * Gives a classifier's backbone learnable prompt tokens for visual prompt tuning (VPT-shallow,
 * or VPT-deep with `deep`): a prompted backbone is built from the backbone's configuration
 * through its spec's `prompts` support, every weight of the old backbone is copied into it by
 * name, the prompts keep the architecture's VPT initialisation, and the head and preprocessing
 * move over. The input classifier is consumed (see `moveClassifierToBackbone`). Loaders stay
 * strict because prompts are added after loading: load a checkpoint, then call this.
 *
 * Prompts a backbone already has are kept when their shapes match the new ones. The prompted
 * backbone is trainable throughout, as a fresh one; for VPT freeze it (`freezeBackbone()`: the
 * prompts are in no stage, so they stay trainable).
 * @throws TypeError when the architecture has no prompt tokens (CNNs: use the pixel-frame
 *   `visual-prompt` method instead).
 */
export function withPromptTokens(
  classifier: Classifier,
  options: WithPromptTokensOptions,
): Classifier {
  const { backbone } = classifier;
  const spec = specOfBackbone(backbone);
  if (spec?.prompts === undefined) {
    throw new TypeError(
      `withPromptTokens: ${backbone.name} (${spec?.type ?? "unregistered"}) has no prompt tokens; prompt a CNN with the pixel-frame visual-prompt method`,
    );
  }
  if (!Number.isInteger(options.tokens) || options.tokens < 1) {
    throw new RangeError(
      `withPromptTokens: tokens must be a positive integer, got ${options.tokens}`,
    );
  }
  const config = spec.prompts.withPrompts(
    backbone.metadata().config,
    { tokens: options.tokens, deep: options.deep },
    options.seed ?? 0,
  );
  const prompted = spec.create(config);
  try {
    const target = prompted.namedVariables();
    const source = backbone.namedVariables();
    const absent = [...source.keys()].filter((key) => !target.has(key));
    if (absent.length > 0) {
      throw new Error(
        `withPromptTokens: the prompted ${backbone.name} lacks ${absent.join(", ")} of the original`,
      );
    }
    for (const [key, variable] of source) {
      const into = target.get(key) as tf.Variable;
      if (tf.util.arraysEqual(into.shape, variable.shape)) into.assign(variable);
      else if (!/prompt/.test(key)) {
        throw new Error(
          `withPromptTokens: ${key} is [${variable.shape.join(", ")}] in ${backbone.name} but [${into.shape.join(", ")}] once prompted`,
        );
      }
    }
    const counters = backbone.nonTensorState?.();
    if (counters !== undefined && counters.size > 0) prompted.setNonTensorState?.(counters);
  } catch (error) {
    prompted.dispose();
    throw error;
  }
  return moveClassifierToBackbone(classifier, prompted);
}
