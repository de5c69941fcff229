import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { BackbonePreprocessing, PreprocessingInterpolation } from "../backbones/backbone-spec";
import { HubFormatError, type HubLocation } from "./hub-errors";
import { CONFIG_NAME, type HubSnapshot, PREPROCESSOR_CONFIG_NAME } from "./pull-snapshot";

/** Resampling filters the image pipeline offers (the registry's `PreprocessingInterpolation`). */
export type HubInterpolation = PreprocessingInterpolation;

/** The preprocessing a checkpoint was trained with: the backbone registry's own type. */
export type HubPreprocessing = BackbonePreprocessing;

/** A snapshot's configuration files, parsed. */
export interface HubConfig {
  /** `config.json`. */
  config: Record<string, unknown>;
  /** transformers' `preprocessor_config.json`, when the snapshot has one. */
  preprocessorConfig?: Record<string, unknown>;
  /** timm's `pretrained_cfg` (inside `config.json`), when present. */
  pretrainedCfg?: Record<string, unknown>;
  /** The preprocessing read from `pretrained_cfg`, else from `preprocessor_config.json`. */
  preprocessing?: HubPreprocessing;
  /** Which file {@link HubConfig.preprocessing} came from. */
  preprocessingSource?: "pretrained_cfg" | "preprocessor_config.json";
}

/** timm's `DEFAULT_CROP_PCT`, used when a `pretrained_cfg` has no `crop_pct`. */
const TIMM_DEFAULT_CROP_PCT = 0.875;

/** PIL's resampling constants, as transformers stores them in `resample`. */
const PIL_RESAMPLE: Record<number, HubInterpolation | undefined> = {
  0: "nearest",
  2: "bilinear",
  3: "bicubic",
};
const PIL_RESAMPLE_NAMES: Record<number, string> = { 1: "lanczos", 4: "box", 5: "hamming" };

/** transformers' default `resample` of the image processors that leave it out. */
const PROCESSOR_DEFAULT_RESAMPLE: Record<string, HubInterpolation> = {
  ViTImageProcessor: "bilinear",
  BitImageProcessor: "bicubic",
  CLIPImageProcessor: "bicubic",
  SiglipImageProcessor: "bicubic",
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function triple(location: HubLocation, key: string, value: unknown): [number, number, number] {
  if (
    !Array.isArray(value) ||
    value.length !== 3 ||
    !value.every((entry) => typeof entry === "number" && Number.isFinite(entry))
  ) {
    throw new HubFormatError(
      location,
      `${key} is ${JSON.stringify(value)}; expected three numbers (R, G, B)`,
    );
  }
  return [value[0], value[1], value[2]];
}

function positive(location: HubLocation, key: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new HubFormatError(
      location,
      `${key} is ${JSON.stringify(value)}; expected a positive number`,
    );
  }
  return value;
}

/**
 * Reads timm's `pretrained_cfg` (`mean`, `std`, `input_size` [C, H, W], `interpolation`,
 * `crop_pct`, default 0.875 as in timm, and `crop_mode`: `"center"`, timm's default, or
 * `"squash"`; `"border"`, which pads, is refused).
 * @throws HubFormatError naming the key and value that do not fit.
 */
export function preprocessingFromPretrainedCfg(
  pretrainedCfg: Record<string, unknown>,
  location: HubLocation,
): HubPreprocessing {
  const inputSize = pretrainedCfg.input_size;
  if (
    !Array.isArray(inputSize) ||
    inputSize.length !== 3 ||
    !inputSize.every((entry) => Number.isInteger(entry) && entry > 0)
  ) {
    throw new HubFormatError(
      location,
      `pretrained_cfg.input_size is ${JSON.stringify(inputSize)}; expected [channels, height, width]`,
    );
  }
  if (inputSize[1] !== inputSize[2]) {
    throw new HubFormatError(
      location,
      `pretrained_cfg.input_size is ${JSON.stringify(inputSize)}; only square inputs are supported`,
    );
  }
  const interpolation = pretrainedCfg.interpolation ?? "bicubic";
  if (interpolation !== "bilinear" && interpolation !== "bicubic" && interpolation !== "nearest") {
    throw new HubFormatError(
      location,
      `pretrained_cfg.interpolation is ${JSON.stringify(interpolation)}; supported: bilinear, bicubic, nearest`,
    );
  }
  const cropMode = pretrainedCfg.crop_mode ?? "center";
  if (cropMode !== "center" && cropMode !== "squash") {
    throw new HubFormatError(
      location,
      `pretrained_cfg.crop_mode is ${JSON.stringify(cropMode)}; supported: center, squash (border pads, which the image pipeline does not)`,
    );
  }
  const crop = positive(
    location,
    "pretrained_cfg.crop_pct",
    pretrainedCfg.crop_pct ?? TIMM_DEFAULT_CROP_PCT,
  );
  if (crop > 1) {
    throw new HubFormatError(
      location,
      `pretrained_cfg.crop_pct is ${crop}; above 1 the crop would need padding, which the image pipeline does not do`,
    );
  }
  return {
    mean: triple(location, "pretrained_cfg.mean", pretrainedCfg.mean),
    std: triple(location, "pretrained_cfg.std", pretrainedCfg.std),
    inputSize: inputSize[1],
    interpolation,
    crop,
    cropMode,
    cropConvention: "torchvision",
  };
}

/** A transformers size entry: `{height, width}`, `{shortest_edge}` or a bare number (legacy). */
function sizeOf(
  location: HubLocation,
  key: string,
  value: unknown,
): { square?: number; shortestEdge?: number } {
  if (typeof value === "number") return { square: positive(location, key, value) };
  if (isRecord(value)) {
    if (value.height !== undefined || value.width !== undefined) {
      const height = positive(location, `${key}.height`, value.height);
      const width = positive(location, `${key}.width`, value.width);
      if (height !== width) {
        throw new HubFormatError(
          location,
          `${key} is ${JSON.stringify(value)}; only square inputs are supported`,
        );
      }
      return { square: height };
    }
    if (value.shortest_edge !== undefined) {
      return { shortestEdge: positive(location, `${key}.shortest_edge`, value.shortest_edge) };
    }
  }
  throw new HubFormatError(
    location,
    `${key} is ${JSON.stringify(value)}; expected {height, width}, {shortest_edge} or a number`,
  );
}

/**
 * Reads transformers' `preprocessor_config.json` (`image_mean`, `image_std`, `size`,
 * `crop_size` with `do_center_crop`, `resample` as PIL's constant). A resize to S followed by a
 * centre crop of C becomes `inputSize: C, crop: C / S`, timm's convention; `size:
 * {shortest_edge}` keeps the aspect ratio (`cropMode: "center"`), `size: {height, width}` or a
 * number stretches (`"squash"`), and the crop's corner is floored as transformers' `center_crop`
 * does (`cropConvention: "transformers"`). A `shortest_edge` resize without a centre crop gives
 * transformers' model images of varying shape; here it becomes the centre square of that side.
 * @throws HubFormatError naming the key and value that do not fit.
 */
export function preprocessingFromImageProcessor(
  processor: Record<string, unknown>,
  location: HubLocation,
): HubPreprocessing {
  const rescale = processor.rescale_factor;
  if (
    processor.do_rescale === false ||
    (rescale !== undefined && (typeof rescale !== "number" || Math.abs(rescale - 1 / 255) > 1e-9))
  ) {
    throw new HubFormatError(
      location,
      `do_rescale ${JSON.stringify(processor.do_rescale)} with rescale_factor ${JSON.stringify(rescale)}: only pixels scaled by 1/255 are supported`,
    );
  }
  const normalize = processor.do_normalize !== false;
  const mean: [number, number, number] = normalize
    ? triple(location, "image_mean", processor.image_mean)
    : [0, 0, 0];
  const std: [number, number, number] = normalize
    ? triple(location, "image_std", processor.image_std)
    : [1, 1, 1];

  let interpolation: HubInterpolation | undefined;
  if (processor.resample === undefined) {
    interpolation =
      PROCESSOR_DEFAULT_RESAMPLE[String(processor.image_processor_type).replace(/Fast$/, "")];
    if (interpolation === undefined) {
      throw new HubFormatError(
        location,
        `no resample and image_processor_type ${JSON.stringify(processor.image_processor_type)} has no known default`,
      );
    }
  } else {
    interpolation =
      typeof processor.resample === "number" ? PIL_RESAMPLE[processor.resample] : undefined;
    if (interpolation === undefined) {
      const name =
        typeof processor.resample === "number" ? PIL_RESAMPLE_NAMES[processor.resample] : undefined;
      throw new HubFormatError(
        location,
        `resample is ${JSON.stringify(processor.resample)}${name ? ` (${name})` : ""}; supported: 0 (nearest), 2 (bilinear), 3 (bicubic)`,
      );
    }
  }

  const resize =
    processor.do_resize === false || processor.size === undefined
      ? undefined
      : sizeOf(location, "size", processor.size);
  const centerCrop = processor.do_center_crop === true && processor.crop_size !== undefined;
  const cropSize = centerCrop ? sizeOf(location, "crop_size", processor.crop_size) : undefined;
  if (cropSize !== undefined && cropSize.square === undefined) {
    throw new HubFormatError(location, "crop_size must be {height, width} or a number");
  }
  const resized = resize?.square ?? resize?.shortestEdge;
  const inputSize = cropSize?.square ?? resized;
  if (inputSize === undefined) {
    throw new HubFormatError(location, "neither size nor crop_size gives the input size");
  }
  let crop = cropSize?.square !== undefined && resized !== undefined ? inputSize / resized : 1;
  if (crop > 1) {
    throw new HubFormatError(
      location,
      `crop_size ${inputSize} is larger than the resized ${resized}: the crop would need padding, which the image pipeline does not do`,
    );
  }
  // loaderResize resizes to floor(inputSize / crop): keep that equal to the processor's size.
  if (resized !== undefined && Math.floor(inputSize / crop) !== resized) {
    crop = inputSize / (resized + 1e-7);
  }
  const cropMode = resize?.shortestEdge !== undefined ? "center" : "squash";
  return { mean, std, inputSize, interpolation, crop, cropMode, cropConvention: "transformers" };
}

async function readJson(location: HubLocation, path: string): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new HubFormatError(location, `${path}: not valid JSON (${(error as Error).message})`);
  }
  if (!isRecord(parsed)) throw new HubFormatError(location, `${path}: expected a JSON object`);
  return parsed;
}

/**
 * Parses a snapshot's `config.json` and, when present, `preprocessor_config.json`, and maps
 * timm's `pretrained_cfg` (preferred: timm checkpoints carry it) or transformers' image
 * processor settings to a {@link HubPreprocessing}, so a model runs with the mean, std, size
 * and resize it was trained with rather than ImageNet defaults.
 * @throws HubFormatError when `config.json` is missing or a file is malformed.
 */
export async function readHubConfig(snapshot: HubSnapshot): Promise<HubConfig> {
  const pathOf = (filename: string): string | undefined => {
    const known = snapshot.files.get(filename);
    if (known !== undefined) return known;
    const onDisk = join(snapshot.snapshotDir, filename);
    return existsSync(onDisk) ? onDisk : undefined;
  };
  const configLocation = {
    repo: snapshot.repo,
    revision: snapshot.revision,
    filename: CONFIG_NAME,
  };
  const configPath = pathOf(CONFIG_NAME);
  if (configPath === undefined) {
    throw new HubFormatError(configLocation, `not in the snapshot ${snapshot.snapshotDir}`);
  }
  const config = await readJson(configLocation, configPath);
  const result: HubConfig = { config };
  const processorPath = pathOf(PREPROCESSOR_CONFIG_NAME);
  const processorLocation = { ...configLocation, filename: PREPROCESSOR_CONFIG_NAME };
  if (processorPath !== undefined) {
    result.preprocessorConfig = await readJson(processorLocation, processorPath);
  }
  if (isRecord(config.pretrained_cfg)) {
    result.pretrainedCfg = config.pretrained_cfg;
    result.preprocessing = preprocessingFromPretrainedCfg(config.pretrained_cfg, configLocation);
    result.preprocessingSource = "pretrained_cfg";
  } else if (result.preprocessorConfig !== undefined) {
    result.preprocessing = preprocessingFromImageProcessor(
      result.preprocessorConfig,
      processorLocation,
    );
    result.preprocessingSource = "preprocessor_config.json";
  }
  return result;
}
