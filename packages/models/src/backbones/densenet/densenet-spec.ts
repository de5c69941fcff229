import { type BackboneSpec, IMAGENET_PREPROCESSING } from "../backbone-spec";
import { HWIO_TO_OIHW, OIHW_TO_HWIO, permuteValues } from "../torch-layout";
import {
  DENSENET121_CONFIG,
  DENSENET169_CONFIG,
  DENSENET201_CONFIG,
  type DenseNetConfig,
  densenet,
} from "./densenet";
import { inferDenseNetConfig, normaliseTorchDenseNetKey } from "./torchvision-densenet-keys";

/** Key prefix of torchvision DenseNet's classification head (`classifier.weight`, `.bias`). */
const HEAD_PREFIX = "classifier.";

/** A small DenseNet (growth 12, blocks 2-2-2-2, 16 initial features) that trains on CPUs. */
export const DENSENET_TINY_CONFIG: Readonly<DenseNetConfig> = Object.freeze({
  growthRate: 12,
  blockConfig: Object.freeze([2, 2, 2, 2]),
  numInitFeatures: 16,
  bnSize: 4,
});

function isHeadLinearWeight(key: string, rank: number): boolean {
  return rank === 2 && key.startsWith(HEAD_PREFIX) && key.endsWith(".weight");
}

/**
 * DenseNet as torchvision defines it: presets 121, 169, 201 (torchvision's) and `densenet-tiny`
 * (for CPUs and tests); torchvision and timm state dicts (legacy `norm.1` keys, `module.`
 * prefix) load with their configuration read off the shapes; ImageNet preprocessing.
 */
export const densenetSpec: BackboneSpec<DenseNetConfig> = {
  type: "densenet",
  presets: [
    {
      name: "densenet121",
      description: "torchvision DenseNet-121: growth 32, blocks 6-12-24-16, 1024 features",
      config: DENSENET121_CONFIG,
    },
    {
      name: "densenet169",
      description: "torchvision DenseNet-169: growth 32, blocks 6-12-32-32, 1664 features",
      config: DENSENET169_CONFIG,
    },
    {
      name: "densenet201",
      description: "torchvision DenseNet-201: growth 32, blocks 6-12-48-32, 1920 features",
      config: DENSENET201_CONFIG,
    },
    {
      name: "densenet-tiny",
      description: "small DenseNet for CPUs: growth 12, blocks 2-2-2-2, 47 features",
      config: DENSENET_TINY_CONFIG,
    },
  ],
  create: (config) => densenet(config),
  weights: {
    normaliseKey: normaliseTorchDenseNetKey,
    toNative(key, values, shape) {
      if (shape.length === 4) return permuteValues(values, shape, OIHW_TO_HWIO);
      if (isHeadLinearWeight(key, shape.length)) return permuteValues(values, shape, [1, 0]);
      return { values, shape: [...shape] };
    },
    fromNative(key, values, shape) {
      if (shape.length === 4) return permuteValues(values, shape, HWIO_TO_OIHW);
      if (isHeadLinearWeight(key, shape.length)) return permuteValues(values, shape, [1, 0]);
      return { values, shape: [...shape] };
    },
    inferConfig(shapes) {
      return inferDenseNetConfig(new Map(shapes), "").config;
    },
    headPrefix: HEAD_PREFIX,
  },
  preprocessing: IMAGENET_PREPROCESSING,
  hub: {
    accepts: ["timm densenet{121,169,201}"],
    configFromHub: ({ config }) => {
      const architecture = config.architecture;
      if (typeof architecture !== "string" || !architecture.startsWith("densenet")) {
        return undefined;
      }
      // timm names the weights' tag after a dot in some files (densenet121.tv_in1k).
      const name = architecture.split(".")[0];
      const configs: Record<string, Readonly<DenseNetConfig>> = {
        densenet121: DENSENET121_CONFIG,
        densenet169: DENSENET169_CONFIG,
        densenet201: DENSENET201_CONFIG,
      };
      const found = configs[name];
      if (found === undefined) {
        // densenet161 (growth 48), densenet264d and densenetblur121d (deep stem, blur pooling).
        throw new Error(
          `timm architecture ${architecture} is not supported (densenet121, densenet169, densenet201 are)`,
        );
      }
      return { ...found, blockConfig: [...found.blockConfig] };
    },
  },
};
