import { readFile, writeFile } from "node:fs/promises";
import { createRandom, hashSeed } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { createVariable, uniqueVariableScope } from "../backbones/initializers";
import type { Classifier } from "../classifier";
import { scoresFromLogits } from "../heads/head";
import type { TrainableModel } from "../train/trainer";
import { encodeSafetensors, parseSafetensors, type SafetensorsInput } from "../weights/safetensors";

/** Options of {@link visualPrompt}. */
export interface VisualPromptOptions {
  /** Model input size: one number for square images, or `[height, width]`. */
  imageSize: number | readonly [number, number];
  /** Width of the learnable frame in pixels (Bahng et al. use 30 at 224 px). */
  padding: number;
  /** Channels of the input (default 3). */
  channels?: number;
  /**
   * Standard deviation of the initial values, in normalised pixel units (default 0: the prompt
   * starts as the identity, so a pretrained model's predictions are unchanged at step 0;
   * Bahng et al. start from `randn`, i.e. 1).
   */
  initStd?: number;
  /** Seed of the initial values (default 0). */
  seed?: number;
}

/**
 * A padding prompt (Bahng et al. 2022, "Exploring Visual Prompts for Adapting Large-Scale
 * Models", `PadPrompter`): a learnable frame of `padding` pixels added to every normalised
 * input image, inside unchanged. Keys `prompt.pad_up` `[1, p, W, C]`, `prompt.pad_down`
 * `[1, p, W, C]`, `prompt.pad_left` and `prompt.pad_right` `[1, H − 2p, p, C]` (channels-last).
 */
export interface VisualPrompt {
  /** Frame width in pixels. */
  readonly padding: number;
  /** Input height the prompt is made for. */
  readonly height: number;
  /** Input width the prompt is made for. */
  readonly width: number;
  /** Input channels. */
  readonly channels: number;
  /** `images + prompt`; throws when the images are not `[n, height, width, channels]`. */
  apply(images: tf.Tensor4D): tf.Tensor4D;
  /** The full prompt `[1, height, width, channels]` (zeros inside the frame). */
  prompt(): tf.Tensor4D;
  /** The four pads under their keys. */
  namedVariables(): Map<string, tf.Variable>;
  /** The four pads, for an optimizer. */
  trainableVariables(): tf.Variable[];
  /** Releases the variables. */
  dispose(): void;
}

/** The file a saved model directory keeps its visual prompt in (read by `medfm predict`). */
export const VISUAL_PROMPT_FILE = "prompt.safetensors";

const PAD_KEYS = ["prompt.pad_up", "prompt.pad_down", "prompt.pad_left", "prompt.pad_right"];

class PadPrompter implements VisualPrompt {
  readonly padding: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  private readonly pads: Map<string, tf.Variable>;

  constructor(options: VisualPromptOptions) {
    const [height, width] =
      typeof options.imageSize === "number"
        ? [options.imageSize, options.imageSize]
        : options.imageSize;
    const channels = options.channels ?? 3;
    const padding = options.padding;
    if (!Number.isInteger(padding) || padding < 1 || 2 * padding >= Math.min(height, width)) {
      throw new RangeError(
        `visualPrompt: padding must be an integer in [1, ${Math.ceil(Math.min(height, width) / 2) - 1}] for ${height}x${width} inputs, got ${padding}`,
      );
    }
    const initStd = options.initStd ?? 0;
    const random = createRandom(hashSeed(options.seed ?? 0, "visual-prompt-init"));
    const scope = uniqueVariableScope("visual_prompt");
    const shapes: Array<[number, number, number, number]> = [
      [1, padding, width, channels],
      [1, padding, width, channels],
      [1, height - 2 * padding, padding, channels],
      [1, height - 2 * padding, padding, channels],
    ];
    this.pads = new Map(
      PAD_KEYS.map((key, index) => {
        const shape = shapes[index];
        const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
        if (initStd !== 0)
          for (let i = 0; i < values.length; i += 1) values[i] = random.normal() * initStd;
        return [key, createVariable(() => tf.tensor4d(values, shape), true, `${scope}/${key}`)];
      }),
    );
    this.padding = padding;
    this.height = height;
    this.width = width;
    this.channels = channels;
  }

  prompt(): tf.Tensor4D {
    return tf.tidy(() => {
      const [up, down, left, right] = PAD_KEYS.map((key) => this.pads.get(key) as tf.Tensor4D);
      const inner = tf.zeros([
        1,
        this.height - 2 * this.padding,
        this.width - 2 * this.padding,
        this.channels,
      ]);
      const middle = tf.concat([left, inner, right], 2);
      return tf.concat([up, middle, down], 1) as tf.Tensor4D;
    });
  }

  apply(images: tf.Tensor4D): tf.Tensor4D {
    const [, height, width, channels] = images.shape;
    if (height !== this.height || width !== this.width || channels !== this.channels) {
      throw new RangeError(
        `visualPrompt: made for ${this.height}x${this.width}x${this.channels} inputs, got ${height}x${width}x${channels}`,
      );
    }
    return tf.tidy(() => tf.add(images, this.prompt()));
  }

  namedVariables(): Map<string, tf.Variable> {
    return new Map(this.pads);
  }

  trainableVariables(): tf.Variable[] {
    return [...this.pads.values()];
  }

  dispose(): void {
    tf.dispose([...this.pads.values()]);
    this.pads.clear();
  }
}

/** Creates a padding prompt for inputs of `imageSize` (see {@link VisualPrompt}). */
export function visualPrompt(options: VisualPromptOptions): VisualPrompt {
  return new PadPrompter(options);
}

/** A classifier that sees prompted images: what visual-prompt training and prediction run. */
export interface PromptedClassifier extends TrainableModel {
  /** The underlying classifier (its backbone frozen for prompt training). */
  readonly classifier: Classifier;
  /** The prompt added to every input. */
  readonly prompt: VisualPrompt;
  /** Eval-mode scores (sigmoid or softmax) of prompted images. */
  predictScores(images: tf.Tensor4D): tf.Tensor2D;
}

/**
 * Wraps a classifier so that every input gets the prompt added. `trainableVariables` is the
 * prompt's pads followed by the classifier's trainable variables (its head once the backbone
 * is frozen), so `createTrainer` trains prompt and head together.
 */
export function promptedClassifier(
  classifier: Classifier,
  prompt: VisualPrompt,
): PromptedClassifier {
  return {
    classifier,
    prompt,
    forward: (images, options) => tf.tidy(() => classifier.forward(prompt.apply(images), options)),
    trainableVariables: () => [...prompt.trainableVariables(), ...classifier.trainableVariables()],
    predictScores: (images) =>
      tf.tidy(() =>
        scoresFromLogits(
          classifier.forward(prompt.apply(images), { training: false }),
          classifier.head.task,
        ),
      ),
  };
}

/** Saves a prompt's pads as a `.safetensors` file (with padding and size in its metadata). */
export async function saveVisualPrompt(prompt: VisualPrompt, path: string): Promise<void> {
  const tensors = new Map<string, SafetensorsInput>();
  for (const [key, variable] of prompt.namedVariables()) {
    tensors.set(key, {
      dtype: "F32",
      shape: variable.shape,
      values: variable.dataSync() as Float32Array,
    });
  }
  const metadata = {
    format: "medfm-visual-prompt",
    padding: String(prompt.padding),
    height: String(prompt.height),
    width: String(prompt.width),
    channels: String(prompt.channels),
  };
  await writeFile(path, encodeSafetensors(tensors, metadata));
}

/** Loads a prompt written by {@link saveVisualPrompt}; errors name the file. */
export async function loadVisualPrompt(path: string): Promise<VisualPrompt> {
  const file = parseSafetensors(new Uint8Array(await readFile(path)), path);
  if (file.metadata.format !== "medfm-visual-prompt") {
    throw new Error(
      `${path}: not a visual prompt (metadata format ${JSON.stringify(file.metadata.format)})`,
    );
  }
  const number = (name: string): number => {
    const value = Number(file.metadata[name]);
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(
        `${path}: metadata ${name} is ${JSON.stringify(file.metadata[name])}, expected a positive integer`,
      );
    }
    return value;
  };
  const prompt = visualPrompt({
    imageSize: [number("height"), number("width")],
    padding: number("padding"),
    channels: number("channels"),
  });
  for (const [key, variable] of prompt.namedVariables()) {
    const tensor = file.tensors.get(key);
    if (!tensor || tensor.shape.join(",") !== variable.shape.join(",")) {
      prompt.dispose();
      throw new Error(
        `${path}: ${key} is ${tensor ? `[${tensor.shape.join(", ")}]` : "missing"}, expected [${variable.shape.join(", ")}]`,
      );
    }
    tf.tidy(() => variable.assign(tf.tensor(tensor.values, tensor.shape, "float32")));
  }
  return prompt;
}
