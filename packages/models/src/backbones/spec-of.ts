import type { Backbone } from "./backbone";
import {
  type BackbonePreprocessing,
  type BackboneSpec,
  IMAGENET_PREPROCESSING,
} from "./backbone-spec";
import { listBackbones } from "./registry";

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
