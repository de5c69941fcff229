import { access, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { getTask, readAnnotationFile } from "@medfm/data";
import {
  type BackendName,
  backendNames,
  type Classifier,
  type LoaderResize,
  listImages,
  loadClassifier,
  loaderResize,
  loadVisualPrompt,
  predictImages,
  promptedClassifier,
  type ScoringModel,
  selectBackend,
  VISUAL_PROMPT_FILE,
  type VisualPrompt,
  writeSubmission,
} from "@medfm/models";
import { SingleBar } from "cli-progress";
import { type Command, Option } from "commander";
import { integerOption } from "../parse-number";

/** A saved model as the inference commands find it. */
export interface ModelDirectory {
  /** The directory holding `model.json`. */
  directory: string;
  /** The classifier. */
  classifier: Classifier;
  /** The visual prompt saved beside it, if any. */
  prompt?: VisualPrompt;
  /** Model input size: recorded at training (`imageSize`), else the `--image-size` given. */
  imageSize: number;
  /** Class names: recorded with the head or at training, when known. */
  classes?: readonly string[];
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Loads the model a `--weights` option names: a model directory (with `model.json`), a
 * `model.json`, or a `medfm train --output` folder (its `best/` checkpoint, else `last/`).
 * The input size comes from the model's training metadata, else from `imageSize`.
 */
export async function openModelDirectory(
  weights: string,
  imageSize: number | undefined,
): Promise<ModelDirectory> {
  let directory = weights.endsWith(".json") ? dirname(weights) : weights;
  if (!(await exists(join(directory, "model.json")))) {
    const candidates = [join(directory, "best"), join(directory, "last")];
    const found: string[] = [];
    for (const candidate of candidates) {
      if (await exists(join(candidate, "model.json"))) found.push(candidate);
    }
    if (found.length === 0) {
      throw new Error(
        `--weights ${weights}: no model.json there, nor in best/ or last/ (a medfm train --output folder)`,
      );
    }
    directory = found[0];
  }
  const modelJson = JSON.parse(await readFile(join(directory, "model.json"), "utf8")) as {
    userDefinedMetadata?: { imageSize?: unknown; classes?: unknown };
  };
  const recorded = modelJson.userDefinedMetadata ?? {};
  const recordedSize = typeof recorded.imageSize === "number" ? recorded.imageSize : undefined;
  const size = imageSize ?? recordedSize;
  if (size === undefined) {
    throw new Error(
      `${join(directory, "model.json")} records no imageSize: pass --image-size (the size the model was trained at)`,
    );
  }
  const classifier = await loadClassifier(directory);
  const recordedClasses = Array.isArray(recorded.classes)
    ? (recorded.classes as unknown[]).map(String)
    : undefined;
  const classes = classifier.head.classes ?? recordedClasses;
  const promptPath = join(directory, VISUAL_PROMPT_FILE);
  const prompt = (await exists(promptPath)) ? await loadVisualPrompt(promptPath) : undefined;
  return {
    directory,
    classifier,
    imageSize: size,
    ...(prompt ? { prompt } : {}),
    ...(classes ? { classes } : {}),
  };
}

interface PredictOptions {
  task: string;
  weights: string;
  output: string;
  dataRoot?: string;
  ann?: string;
  tta: "none" | "flip";
  batchSize: number;
  imageSize?: number;
  resize: PredictResize;
  backend?: BackendName;
  json?: boolean;
}

/** `medfm predict --resize`: how images reach the model's input size. */
export type PredictResize = "weights" | "stretch" | "center-crop";

/**
 * The loader's resize for `--resize` on `classifier` at `imageSize` px, always explicit (so the
 * summary can say what was applied): `"weights"` the crop, crop mode and interpolation the model
 * records (`loaderResize`); `"stretch"` the whole image to the input size without keeping the
 * aspect ratio; `"center-crop"` the short side to the input size and the centre square kept;
 * both with the model's interpolation and torchvision's rounding.
 */
export function predictResize(
  mode: PredictResize,
  classifier: Pick<Classifier, "preprocessing">,
  imageSize: number,
): LoaderResize {
  const preprocessing = classifier.preprocessing;
  const resize =
    mode === "weights"
      ? loaderResize(preprocessing, imageSize)
      : loaderResize(
          {
            ...preprocessing,
            crop: 1,
            cropMode: mode === "stretch" ? "squash" : "center",
            cropConvention: "torchvision",
          },
          imageSize,
        );
  // undefined: the loader's default, a Pillow bilinear stretch.
  return resize ?? { mode: "exact", kernel: "linear" };
}

/** Names relative to the deepest folder holding every file, and that folder. */
function commonRoot(files: readonly string[]): { dataRoot: string; names: string[] } {
  const absolute = files.map((file) => resolve(file));
  let root = dirname(absolute[0]);
  while (!absolute.every((file) => file.startsWith(root.endsWith(sep) ? root : `${root}${sep}`))) {
    const parent = dirname(root);
    if (parent === root) break;
    root = parent;
  }
  return {
    dataRoot: root,
    names: absolute.map((file) => relative(root, file).split(sep).join("/")),
  };
}

/**
 * Reports scoring progress on standard error: a bar with images and ETA on a terminal, a plain
 * line every tenth of the images otherwise (CI logs, pipes).
 */
function scoringProgress(total: number): {
  update: (done: number) => void;
  stop: () => void;
} {
  const stream = process.stderr;
  if (stream.isTTY && !process.env.CI) {
    const bar = new SingleBar({
      stream,
      format: "scoring [{bar}] {value}/{total} images | ETA {eta_formatted}",
      hideCursor: true,
      clearOnComplete: true,
    });
    bar.start(total, 0);
    return { update: (done) => bar.update(done), stop: () => bar.stop() };
  }
  const started = performance.now();
  const step = Math.max(1, Math.ceil(total / 10));
  let next = step;
  return {
    update: (done) => {
      if (done < next && done < total) return;
      next = done + step;
      const elapsed = (performance.now() - started) / 1000;
      const eta = (elapsed / done) * (total - done);
      stream.write(`scoring ${done}/${total} images eta ${eta.toFixed(0)}s\n`);
    },
    stop: () => {},
  };
}

function writerOf(command: Command): (text: string) => void {
  const output = command.configureOutput();
  return output.writeOut ?? ((text: string) => process.stdout.write(text));
}

/** Registers `medfm predict`. */
export function registerPredictCommand(program: Command): void {
  program
    .command("predict")
    .description(
      "Score images with a trained model and write the MedFM submission CSV (name,score1,...,scoreC, no header)",
    )
    .argument("[files...]", "image files to score (instead of --data-root)")
    .requiredOption("--task <name>", "task the model was trained for (chest, colon, endo)")
    .requiredOption(
      "--weights <dir>",
      "model directory (model.json + weights.bin), or a medfm train --output folder",
    )
    .requiredOption("--output <file>", "CSV file to write")
    .option("--data-root <dir>", "folder of the images")
    .option(
      "--ann <file>",
      "annotation file or name-only list under --data-root (default: every image in --data-root)",
    )
    .addOption(
      new Option("--tta <mode>", "test-time augmentation")
        .choices(["none", "flip"])
        .default("none"),
    )
    .option("--batch-size <n>", "images per forward pass", integerOption({ min: 1 }), 16)
    .option(
      "--image-size <n>",
      "model input size (default: the size recorded at training)",
      integerOption({ min: 1 }),
    )
    .addOption(
      new Option(
        "--resize <mode>",
        "how images reach the input size: weights (the crop and interpolation model.json records), stretch (the whole image, aspect ratio not kept), center-crop (short side to the input size, centre square kept)",
      )
        .choices(["weights", "stretch", "center-crop"])
        .default("weights"),
    )
    .addOption(new Option("--backend <name>", "tfjs backend").choices([...backendNames]))
    .option("--json", "print a JSON summary")
    .action(async (files: string[], options: PredictOptions, command: Command) => {
      const write = writerOf(command);
      const task = getTask(options.task);
      let dataRoot: string;
      let names: string[];
      if (files.length > 0) {
        if (options.dataRoot || options.ann) {
          throw new Error("give image files or --data-root/--ann, not both");
        }
        ({ dataRoot, names } = commonRoot(files));
      } else {
        if (!options.dataRoot) throw new Error("--data-root (or image files) is required");
        dataRoot = options.dataRoot;
        names = options.ann
          ? (await readAnnotationFile(options.ann, { task, dataRoot })).samples.map((s) => s.name)
          : await listImages(dataRoot);
        if (names.length === 0) {
          throw new Error(
            options.ann ? `${options.ann} lists no image` : `no image files in ${dataRoot}`,
          );
        }
      }
      const batchSize = options.batchSize;
      await selectBackend(options.backend ? { backend: options.backend } : {});
      const opened = await openModelDirectory(options.weights, options.imageSize);
      const { classifier, prompt } = opened;
      try {
        if (
          classifier.head.numClasses !== task.classes.length ||
          classifier.head.task !== task.kind
        ) {
          throw new Error(
            `${opened.directory}: the model has a ${classifier.head.task} head with ${classifier.head.numClasses} classes; task ${task.name} is ${task.kind} with ${task.classes.length}`,
          );
        }
        if (opened.classes && opened.classes.join(",") !== task.classes.join(",")) {
          throw new Error(
            `${opened.directory}: the model's classes (${opened.classes.join(", ")}) are not task ${task.name}'s (${task.classes.join(", ")})`,
          );
        }
        const model: ScoringModel = prompt ? promptedClassifier(classifier, prompt) : classifier;
        const resize = predictResize(options.resize, classifier, opened.imageSize);
        const started = performance.now();
        const progress = scoringProgress(names.length);
        const predictions = await predictImages({
          model,
          dataRoot,
          names,
          preprocessing: { imageSize: opened.imageSize, resize },
          batchSize,
          tta: options.tta,
          onProgress: ({ done }) => progress.update(done),
        }).finally(() => progress.stop());
        await writeSubmission(options.output, predictions);
        const seconds = (performance.now() - started) / 1000;
        const summary = {
          images: names.length,
          classes: predictions.numClasses,
          tta: options.tta,
          imageSize: opened.imageSize,
          resize,
          model: opened.directory,
          prompt: prompt !== undefined,
          output: options.output,
          seconds: Number(seconds.toFixed(3)),
        };
        if (options.json) {
          write(`${JSON.stringify(summary, null, 2)}\n`);
          return;
        }
        write(
          `Scored ${summary.images} images (${summary.classes} ${task.name} classes, ${opened.imageSize} px${options.tta === "flip" ? ", flip TTA" : ""}${prompt ? ", visual prompt" : ""}) in ${seconds.toFixed(1)}s with ${opened.directory}\n`,
        );
        write(`Wrote ${options.output}\n`);
      } finally {
        prompt?.dispose();
        classifier.dispose();
      }
    });
}
