import { existsSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
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
  requirePreset,
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
  /**
   * The user named `backbone` as well as `weights`: throw when the weights build another
   * architecture than that preset (default false: `weights` alone decide).
   */
  checkBackbone?: boolean;
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
  const classifier = await buildFrom(options);
  if (options.weights && options.checkBackbone) {
    try {
      checkWeightsArePreset(classifier, options.backbone, options.weights);
    } catch (error) {
      classifier.dispose();
      throw error;
    }
  }
  return classifier;
}

/** Settings a preset may differ from its weights in: input size, LayerScale's initial value. */
const UNCHECKED_SETTINGS = new Set(["name", "imgSize", "initValues"]);

/**
 * Throws when the weights' architecture is not the preset's: another type, or a setting of the
 * preset (width, depth, heads, patch size …) with another value in the weights.
 */
function checkWeightsArePreset(classifier: Classifier, backbone: string, weights: string): void {
  const { spec, preset } = requirePreset(backbone);
  const loaded = classifier.backbone.metadata();
  const differences =
    loaded.type !== spec.type
      ? [`type ${loaded.type}, not ${spec.type}`]
      : Object.entries(preset.config as Record<string, unknown>)
          .filter(([key]) => !UNCHECKED_SETTINGS.has(key) && key in loaded.config)
          .filter(([key, value]) => !isDeepStrictEqual(loaded.config[key], value))
          .map(
            ([key, value]) =>
              `${key} ${JSON.stringify(loaded.config[key])}, not ${JSON.stringify(value)}`,
          );
  if (differences.length > 0)
    throw new Error(
      `--weights ${weights} is not a ${backbone}: ${differences.join("; ")} (drop --backbone to use the weights' own architecture)`,
    );
}

async function buildFrom(options: BuildClassifierOptions): Promise<Classifier> {
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
