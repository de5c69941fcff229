import { type BackbonePreprocessing, IMAGENET_PREPROCESSING } from "../backbones/backbone-spec";

/** Channel means and standard deviations on the 0–255 scale, as `@medfm/data`'s loader takes them. */
export interface LoaderNormalisation {
  /** Channel means on the 0–255 scale. */
  mean: readonly number[];
  /** Channel standard deviations on the 0–255 scale. */
  std: readonly number[];
}

function isImageNet(preprocessing: BackbonePreprocessing): boolean {
  const same = (a: readonly number[], b: readonly number[]): boolean =>
    a.length === b.length && a.every((value, index) => value === b[index]);
  return (
    same(preprocessing.mean, IMAGENET_PREPROCESSING.mean) &&
    same(preprocessing.std, IMAGENET_PREPROCESSING.std)
  );
}

/**
 * The loader's `mean`/`std` for a model's preprocessing (scaled from [0, 1] to 0–255), or
 * `undefined` for ImageNet's, which is the loader's default (so its exact 0–255 constants and
 * the feature cache's keys stay as they were).
 */
export function loaderNormalisation(
  preprocessing: BackbonePreprocessing | undefined,
): LoaderNormalisation | undefined {
  if (preprocessing === undefined || isImageNet(preprocessing)) return undefined;
  return {
    mean: preprocessing.mean.map((value) => value * 255),
    std: preprocessing.std.map((value) => value * 255),
  };
}
