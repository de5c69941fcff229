import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  type Classifier,
  createBackbone,
  createClassifier,
  createClassifierFromTorch,
  fromPretrained,
  type Head,
  listPresetNames,
  loadClassifier,
  readSafetensors,
  resolvePretrainedReference,
} from "@medfm/models";

/** The backbone preset CLI commands build when none is named: small enough for CPUs. */
export const DEFAULT_BACKBONE = "densenet-tiny";

/**
 * Backbones the CLI builds by name: every preset of every registered backbone spec
 * (`listPresetNames()`), so a registered architecture is offered without CLI changes.
 */
export const backboneNames: readonly string[] = listPresetNames();

/** Options of {@link buildClassifier}. */
export interface BuildClassifierOptions {
  /** Backbone preset to build when there are no weights (one of {@link backboneNames}). */
  backbone: string;
  /** The head for this task. */
  head: Head;
  /**
   * torchvision/timm `.safetensors` (backbone loaded, `head` attached), a saved classifier
   * folder (`model.json`), or a Hugging Face hub repository (`org/name[@rev]`, `hf:org/name`)
   * or a folder of its files (`config.json` + safetensors), read by `fromPretrained` with
   * `head` attached.
   */
  weights?: string;
  /** For a saved classifier: swap its head for `head` (default false: keep the saved head). */
  replaceSavedHead?: boolean;
  /** Seed of the initialisation. */
  seed: number;
}

/**
 * The classifier a CLI command starts from: pretrained weights when given, else a freshly
 * initialised backbone with `head`.
 */
export async function buildClassifier(options: BuildClassifierOptions): Promise<Classifier> {
  const { head, weights, seed } = options;
  if (weights?.endsWith(".safetensors")) {
    // Pretrained backbone, new head for this task's classes (the fine-tuning case).
    return createClassifierFromTorch(await readSafetensors(weights), { head, source: weights });
  }
  if (
    weights &&
    !existsSync(join(weights, "model.json")) &&
    (resolvePretrainedReference(weights).kind === "hub" || existsSync(join(weights, "config.json")))
  ) {
    return (await fromPretrained(weights, { head })).classifier;
  }
  if (weights) {
    const loaded = await loadClassifier(weights);
    if (options.replaceSavedHead) loaded.replaceHead(head).dispose();
    else head.dispose();
    return loaded;
  }
  const backbone = createBackbone(options.backbone, { seed });
  return createClassifier({ backbone, head });
}
