import {
  type Classifier,
  createClassifier,
  createClassifierFromTorch,
  densenet,
  densenet121,
  densenet169,
  densenet201,
  type Head,
  loadClassifier,
  readSafetensors,
} from "@medfm/models";

/** Backbones the CLI builds by name. `densenet-tiny` is a small configuration for CPUs. */
export const backboneNames = [
  "densenet121",
  "densenet169",
  "densenet201",
  "densenet-tiny",
] as const;

/** Options of {@link buildClassifier}. */
export interface BuildClassifierOptions {
  /** Backbone to build when there are no weights. */
  backbone: (typeof backboneNames)[number];
  /** The head for this task. */
  head: Head;
  /** torchvision/timm `.safetensors` (backbone loaded, `head` attached) or a saved classifier folder. */
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
  if (weights) {
    const loaded = await loadClassifier(weights);
    if (options.replaceSavedHead) loaded.replaceHead(head).dispose();
    else head.dispose();
    return loaded;
  }
  const backbone =
    options.backbone === "densenet121"
      ? densenet121({ seed })
      : options.backbone === "densenet169"
        ? densenet169({ seed })
        : options.backbone === "densenet201"
          ? densenet201({ seed })
          : densenet({
              growthRate: 12,
              blockConfig: [2, 2, 2, 2],
              numInitFeatures: 16,
              bnSize: 4,
              seed,
            });
  return createClassifier({ backbone, head });
}
