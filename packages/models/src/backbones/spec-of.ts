import type { Backbone, BackboneMetadata } from "./backbone";
import {
  type BackbonePreprocessing,
  type BackboneSpec,
  IMAGENET_PREPROCESSING,
} from "./backbone-spec";
import { getBackboneSpec, listBackbones, requirePreset } from "./registry";

/** Head key prefix of backbones whose type is not registered (torchvision's `classifier.`). */
export const DEFAULT_HEAD_PREFIX = "classifier.";

/** The registered spec of a backbone's type (`metadata().type`), or `undefined` if none. */
// biome-ignore lint/suspicious/noExplicitAny: the configuration type is the backbone's own
export function specOfBackbone(backbone: Backbone): BackboneSpec<any> | undefined {
  const { type } = backbone.metadata();
  return listBackbones().find((spec) => spec.type === type);
}

/** Prefix of the head's state-dict keys on this backbone: its spec's `headPrefix`. */
export function headPrefixOf(backbone: Backbone): string {
  return specOfBackbone(backbone)?.weights.headPrefix ?? DEFAULT_HEAD_PREFIX;
}

/**
 * The preprocessing a backbone's weights expect when nothing else says: the preset named as
 * the backbone (`densenet121`), else its spec's default, else ImageNet's.
 */
export function defaultPreprocessingOf(backbone: Backbone): BackbonePreprocessing {
  const spec = specOfBackbone(backbone);
  const preset = spec?.presets.find((candidate) => candidate.name === backbone.name);
  return preset?.preprocessing ?? spec?.preprocessing ?? IMAGENET_PREPROCESSING;
}

/**
 * Rebuilds a backbone from what a saved model records (`model.json`'s `modelTopology.backbone`)
 * through its registered spec; `overrides` are merged into the configuration (e.g.
 * `memoryEfficient`). An unregistered type throws {@link UnknownBackboneError} naming `context`
 * (the file) and the registered types.
 */
export function backboneFromMetadata(
  metadata: BackboneMetadata,
  context: string,
  overrides: Record<string, unknown> = {},
): Backbone {
  const spec = getBackboneSpec(metadata.type, context);
  const defined = Object.fromEntries(
    Object.entries(overrides).filter(([, value]) => value !== undefined),
  );
  return spec.create({ ...metadata.config, ...defined });
}

/**
 * Builds the backbone of a registered preset (`densenet121`, `densenet-tiny` …);
 * `overrides` (e.g. `{ seed }`) are merged into its configuration. An unknown name throws
 * {@link UnknownPresetError} listing the known presets.
 */
export function createBackbone(
  presetName: string,
  overrides: Record<string, unknown> = {},
): Backbone {
  const { spec, preset } = requirePreset(presetName);
  return spec.create({ ...preset.config, ...overrides });
}
