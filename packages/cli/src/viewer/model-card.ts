import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { getTask, IMAGENET_MEAN, IMAGENET_STD, type ResizeOptions } from "@medfm/data";
import {
  type BackbonePreprocessing,
  IMAGENET_PREPROCESSING,
  type LoaderResize,
  loaderPreprocessing,
} from "@medfm/models";
import type { StoredRun } from "@medfm/track";

/** What the viewer shows about a model, served beside it as `model/card.json`. */
export interface ModelCard {
  /** Task name (`chest`, `colon`, `endo`, ...), when recorded. */
  task: string | null;
  /** `multi-label` (sigmoid scores, one threshold) or `multi-class` (softmax). */
  kind: "multi-label" | "multi-class";
  /** Class names, in score order. */
  classes: string[];
  /** Score at or above which a class is called present (multi-label), else null (argmax). */
  threshold: number | null;
  /** Model input size in pixels (square). */
  imageSize: number;
  /**
   * The evaluation preprocessing of the model's weights (`model.json`'s `preprocessing`,
   * ImageNet's bilinear stretch when it records none), as `preprocessRgba` takes it: the resize
   * of `loaderResize` (a centre crop for weights with `crop` below 1) and mean/std on the 0–255
   * scale.
   */
  preprocessing: {
    resize: LoaderResize;
    kernel: NonNullable<ResizeOptions["kernel"]>;
    backend: "pillow";
    mean: readonly number[];
    std: readonly number[];
  };
  /** Backbone and head as `model.json` records them. */
  architecture: { backbone: string; head: string };
  /** What it was trained on, from the run's parameters (null without a run). */
  trainingData: {
    train: string | null;
    val: string | null;
    epochs: number | null;
    imageSize: number | null;
    backbone: string | null;
  } | null;
  /** Final metrics from the run (`val/*` last points, `val/best_*`, `test/*`), by name. */
  metrics: Record<string, number>;
  /** The run the card was drawn from, if any. */
  run: { id: string; status: string } | null;
}

/** `model.json` fields read for the card. */
interface ModelJsonFields {
  modelTopology?: {
    backbone?: { type?: string };
    head?: { type?: string; task?: string; classes?: string[]; numClasses?: number };
  };
  userDefinedMetadata?: { task?: unknown; classes?: unknown; imageSize?: unknown };
  preprocessing?: BackbonePreprocessing;
}

const numberOrNull = (value: unknown): number | null => (typeof value === "number" ? value : null);
const stringOrNull = (value: unknown): string | null => (typeof value === "string" ? value : null);

/** The card's preprocessing for weights that record `preprocessing`, at `imageSize` px. */
function cardPreprocessing(
  preprocessing: BackbonePreprocessing,
  imageSize: number,
): ModelCard["preprocessing"] {
  const own = loaderPreprocessing(preprocessing, imageSize);
  const resize = { mode: "exact" as const, ...own.resize };
  return {
    resize,
    kernel: resize.kernel ?? "linear",
    backend: "pillow",
    // ImageNet's exact 0–255 constants, as the loader uses them, when the weights want those.
    mean: own.mean ?? IMAGENET_MEAN,
    std: own.std ?? IMAGENET_STD,
  };
}

/**
 * Builds the model card of a saved model directory, with the training data and metrics of
 * `run` when one is given. Errors name `model.json` and the missing field.
 */
export async function buildModelCard(
  modelDirectory: string,
  run: StoredRun | undefined,
  options: { imageSize?: number } = {},
): Promise<ModelCard> {
  const modelJsonPath = join(modelDirectory, "model.json");
  const modelJson = JSON.parse(await readFile(modelJsonPath, "utf8")) as ModelJsonFields;
  const head = modelJson.modelTopology?.head ?? {};
  const recorded = modelJson.userDefinedMetadata ?? {};
  const taskName = stringOrNull(recorded.task) ?? stringOrNull(run?.params.task);
  let taskClasses: string[] | undefined;
  if (taskName) {
    try {
      taskClasses = [...getTask(taskName).classes];
    } catch {
      taskClasses = undefined;
    }
  }
  const classes =
    head.classes ??
    (Array.isArray(recorded.classes) ? recorded.classes.map(String) : undefined) ??
    taskClasses ??
    Array.from({ length: head.numClasses ?? 0 }, (_, index) => `class ${index}`);
  const imageSize =
    options.imageSize ?? numberOrNull(recorded.imageSize) ?? numberOrNull(run?.params.imageSize);
  if (imageSize === null) {
    throw new Error(`${modelJsonPath} records no imageSize: pass --image-size`);
  }
  const kind = head.task === "multi-class" ? "multi-class" : "multi-label";
  const metrics: Record<string, number> = {};
  if (run) {
    for (const [path, points] of Object.entries(run.series)) {
      const last = points.at(-1)?.value;
      if (path.startsWith("val/") && typeof last === "number") metrics[path] = last;
    }
    for (const [path, value] of Object.entries(run.values)) {
      const metric =
        (path.startsWith("val/best_") && path !== "val/best_epoch") || path.startsWith("test/");
      if (metric && typeof value === "number") metrics[path] = value;
    }
  }
  return {
    task: taskName,
    kind,
    classes,
    threshold: kind === "multi-label" ? 0.5 : null,
    imageSize,
    preprocessing: cardPreprocessing(modelJson.preprocessing ?? IMAGENET_PREPROCESSING, imageSize),
    architecture: {
      backbone: modelJson.modelTopology?.backbone?.type ?? "unknown",
      head: head.type ?? "unknown",
    },
    trainingData: run
      ? {
          train: stringOrNull(run.params.train),
          val: stringOrNull(run.params.val),
          epochs: numberOrNull(run.params.epochs),
          imageSize: numberOrNull(run.params.imageSize),
          backbone: stringOrNull(run.params.backbone),
        }
      : null,
    metrics,
    run: run ? { id: run.id, status: run.status } : null,
  };
}
