import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { normalizeInto, readPixels } from "@medfm/data";
import {
  type BackendName,
  backendNames,
  gradCam,
  heatmapOverlay,
  scoresFromLogits,
  selectBackend,
} from "@medfm/models";
import * as tf from "@tensorflow/tfjs";
import { type Command, Option } from "commander";
import sharp from "sharp";
import { openModelDirectory, positiveInteger } from "./predict";

interface GradcamOptions {
  weights: string;
  image: string;
  class: string;
  output: string;
  imageSize?: string;
  imageWeight: string;
  backend?: BackendName;
  json?: boolean;
}

/** The class index a `--class` value names: a class name, or an index when names are unknown. */
function classIndexOf(
  value: string,
  classes: readonly string[] | undefined,
  count: number,
): number {
  if (classes) {
    const index = classes.indexOf(value);
    if (index >= 0) return index;
  }
  const number = Number(value);
  if (value.trim() !== "" && Number.isInteger(number) && number >= 0 && number < count)
    return number;
  throw new Error(
    `--class ${JSON.stringify(value)}: ${classes ? `not one of ${classes.join(", ")}` : `the model records no class names; give an index in 0..${count - 1}`}`,
  );
}

/** Registers `medfm gradcam`. */
export function registerGradcamCommand(program: Command): void {
  program
    .command("gradcam")
    .description(
      "explain a model's score for one class on one image: Grad-CAM on the last dense block, written as a PNG heatmap over the image",
    )
    .requiredOption(
      "--weights <dir>",
      "model directory (model.json + weights.bin), or a medfm train --output folder",
    )
    .requiredOption("--image <file>", "image to explain")
    .requiredOption("--class <name>", "class to explain (a class name, or an index)")
    .requiredOption("--output <file.png>", "PNG to write")
    .option("--image-size <n>", "model input size (default: the size recorded at training)")
    .option("--image-weight <w>", "weight of the image in the blend, 0..1", "0.5")
    .addOption(new Option("--backend <name>", "tfjs backend").choices([...backendNames]))
    .option("--json", "print a JSON summary")
    .action(async (options: GradcamOptions, command: Command) => {
      const output = command.configureOutput();
      const write = output.writeOut ?? ((text: string) => process.stdout.write(text));
      const imageWeight = Number(options.imageWeight);
      if (!(imageWeight >= 0 && imageWeight <= 1)) {
        throw new Error(`--image-weight: expected a number in [0, 1], got ${options.imageWeight}`);
      }
      await selectBackend(options.backend ? { backend: options.backend } : {});
      const opened = await openModelDirectory(
        options.weights,
        positiveInteger(options.imageSize, "--image-size"),
      );
      const { classifier, prompt, imageSize } = opened;
      try {
        const classIndex = classIndexOf(options.class, opened.classes, classifier.head.numClasses);
        const input = await readPixels(options.image, {
          channels: 3,
          resize: { width: imageSize, height: imageSize },
        });
        const values = new Float32Array(imageSize * imageSize * 3);
        normalizeInto(values, 0, input);
        // The overlay is drawn on the image at its own size, as 8-bit RGB.
        const original = await readPixels(options.image, { channels: 3 });
        const scale = 255 / original.maxValue;
        const rgb = new Uint8Array(original.width * original.height * 3);
        for (let i = 0; i < rgb.length / 3; i += 1) {
          for (let c = 0; c < 3; c += 1) {
            rgb[i * 3 + c] = Math.round(
              original.data[original.channels === 1 ? i : i * 3 + c] * scale,
            );
          }
        }
        const image = tf.tidy(() => {
          const tensor = tf.tensor4d(values, [1, imageSize, imageSize, 3]);
          // A prompted model sees the prompted image: explain that.
          return prompt ? prompt.apply(tensor) : tensor;
        });
        const result = gradCam(classifier, image, {
          classIndex,
          outputSize: [original.height, original.width],
        });
        const score = tf.tidy(
          () =>
            scoresFromLogits(classifier.predict(image), classifier.head.task).dataSync()[
              classIndex
            ],
        );
        image.dispose();
        const overlay = heatmapOverlay(
          { data: rgb, width: original.width, height: original.height, channels: 3 },
          result.heatmap,
          { imageWeight },
        );
        await mkdir(dirname(options.output), { recursive: true });
        await sharp(overlay.data, {
          raw: { width: overlay.width, height: overlay.height, channels: 3 },
        })
          .png()
          .toFile(options.output);
        const className = opened.classes?.[classIndex] ?? String(classIndex);
        const summary = {
          class: className,
          classIndex,
          score,
          logit: result.logit,
          peak: result.peak,
          width: overlay.width,
          height: overlay.height,
          featureMap: [result.featureMap.height, result.featureMap.width],
          flat: result.flat,
          output: options.output,
        };
        if (options.json) {
          write(`${JSON.stringify(summary, null, 2)}\n`);
          return;
        }
        write(
          `Grad-CAM of ${className} (score ${score.toFixed(4)}) on ${options.image}: peak at x=${result.peak.x}, y=${result.peak.y} of ${overlay.width}x${overlay.height}\n`,
        );
        if (result.flat) {
          const { height, width } = result.featureMap;
          write(
            height * width === 1
              ? `Note: at ${imageSize} px the last dense block's map is 1x1, so the heatmap cannot localise anything; use a model trained at a larger --image-size\n`
              : `Note: the map is flat (no positive evidence for ${className} anywhere): the heatmap is empty\n`,
          );
        }
        write(`Wrote ${options.output}\n`);
      } finally {
        prompt?.dispose();
        classifier.dispose();
      }
    });
}
