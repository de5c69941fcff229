import { type BackendName, backendNames, selectBackend } from "@medfm/models";
import { type Command, Option } from "commander";
import { writeGradCam } from "../explain/write-grad-cam";
import { integerOption, numberOption } from "../parse-number";
import { openModelDirectory } from "./predict";

interface GradcamOptions {
  weights: string;
  image: string;
  class: string;
  output: string;
  imageSize?: number;
  imageWeight: number;
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
      "Explain a model's score for one class on one image: Grad-CAM on the last dense block, written as a PNG heatmap over the image",
    )
    .requiredOption(
      "--weights <dir>",
      "model directory (model.json + weights.bin), or a medfm train --output folder",
    )
    .requiredOption("--image <file>", "image to explain")
    .requiredOption("--class <name>", "class to explain (a class name, or an index)")
    .requiredOption("--output <file.png>", "PNG to write")
    .option(
      "--image-size <n>",
      "model input size (default: the size recorded at training)",
      integerOption({ min: 1 }),
    )
    .option(
      "--image-weight <w>",
      "weight of the image in the blend, 0..1",
      numberOption({ min: 0, max: 1 }),
      0.5,
    )
    .addOption(new Option("--backend <name>", "tfjs backend").choices([...backendNames]))
    .option("--json", "print a JSON summary")
    .action(async (options: GradcamOptions, command: Command) => {
      const output = command.configureOutput();
      const write = output.writeOut ?? ((text: string) => process.stdout.write(text));
      const imageWeight = options.imageWeight;
      await selectBackend(options.backend ? { backend: options.backend } : {});
      const opened = await openModelDirectory(options.weights, options.imageSize);
      const { classifier, prompt, imageSize } = opened;
      try {
        const classIndex = classIndexOf(options.class, opened.classes, classifier.head.numClasses);
        const { result, score, width, height } = await writeGradCam({
          classifier,
          prompt,
          image: options.image,
          imageSize,
          classIndex,
          output: options.output,
          imageWeight,
        });
        const className = opened.classes?.[classIndex] ?? String(classIndex);
        const summary = {
          class: className,
          classIndex,
          score,
          logit: result.logit,
          peak: result.peak,
          width,
          height,
          featureMap: [result.featureMap.height, result.featureMap.width],
          flat: result.flat,
          output: options.output,
        };
        if (options.json) {
          write(`${JSON.stringify(summary, null, 2)}\n`);
          return;
        }
        write(
          `Grad-CAM of ${className} (score ${score.toFixed(4)}) on ${options.image}: peak at x=${result.peak.x}, y=${result.peak.y} of ${width}x${height}\n`,
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
