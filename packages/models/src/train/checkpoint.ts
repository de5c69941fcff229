import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createRandom, type RandomState } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import type { Classifier } from "../classifier";
import { saveClassifier } from "../weights/save-load";
import type { Optimizer, OptimizerState } from "./optimizers";

/** Layout version of `trainer-state.json`. */
export const CHECKPOINT_VERSION = 1;

/** Where training stood when a checkpoint was written. */
export interface TrainerPosition {
  /** Epoch in progress (0-based): the next batch to run belongs to it. */
  epoch: number;
  /** Batches of `epoch` already applied (0 at an epoch boundary). */
  batchesDone: number;
  /** Global optimizer steps applied. */
  step: number;
  /** Best value of the main metric so far and its epoch, when evaluated. */
  best?: { metric: string; value: number; epoch: number };
}

/** The contents of `trainer-state.json`. */
export interface TrainerStateFile extends TrainerPosition {
  version: typeof CHECKPOINT_VERSION;
  /** The optimizer that wrote the state (`sgd`, `adamw`). */
  optimizer: string;
  /** Free-form metadata (task, options), stored as given. */
  metadata: Record<string, unknown>;
  /**
   * The model's random streams (dropout masks) by name, as {@link Classifier.randomStreams}
   * lists them. Absent in checkpoints written before it was recorded: those resume with the
   * streams as the model was built, and dropout masks then differ from an uninterrupted run.
   */
  random?: Record<string, RandomState>;
}

/** A checkpoint read back by {@link readCheckpoint}. */
export interface Checkpoint {
  state: TrainerStateFile;
  /** Model tensors by torchvision key (owned by the caller). */
  weights: Map<string, tf.Tensor>;
  /** Optimizer state with slots under the model's torchvision keys (tensors owned by the caller). */
  optimizerState: OptimizerState;
}

/**
 * Writes a training checkpoint into `directory`: the model (`model.json` + `weights.bin`, readable
 * by `loadClassifier`), the optimizer's slots (`optimizer.json` + `optimizer.bin`) and the
 * position and the states of the model's random streams (`trainer-state.json`). Written to a sibling temporary folder first and renamed, so
 * an interrupted write never leaves a half checkpoint.
 */
export async function writeCheckpoint(
  directory: string,
  model: Classifier,
  optimizer: Optimizer,
  position: TrainerPosition,
  metadata: Record<string, unknown> = {},
): Promise<void> {
  const staging = `${directory}.partial`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await saveClassifier(model, staging, { metadata });
  const optimizerState = optimizer.getState();
  // Slots are stored under the model's stable (torchvision) keys, not tfjs variable names,
  // which differ from one process to the next.
  const keyOf = new Map(
    [...model.namedTrainableVariables()].map(([key, variable]) => [variable.name, key]),
  );
  const flat: Record<string, tf.Tensor> = {};
  for (const [variable, slots] of Object.entries(optimizerState.slots)) {
    const key = keyOf.get(variable) ?? variable;
    for (const [slot, tensor] of Object.entries(slots)) flat[`${key}\u0000${slot}`] = tensor;
  }
  try {
    const { data, specs } = await tf.io.encodeWeights(flat);
    await writeFile(join(staging, "optimizer.bin"), new Uint8Array(data));
    await writeFile(
      join(staging, "optimizer.json"),
      `${JSON.stringify({ step: optimizerState.step, specs }, null, 1)}\n`,
    );
  } finally {
    tf.dispose(Object.values(flat));
  }
  const state: TrainerStateFile = {
    version: CHECKPOINT_VERSION,
    ...position,
    optimizer: optimizer.name,
    metadata,
    random: Object.fromEntries(
      [...model.randomStreams()].map(([name, random]) => [name, random.getState()]),
    ),
  };
  await writeFile(join(staging, "trainer-state.json"), `${JSON.stringify(state, null, 2)}\n`);
  await rm(directory, { recursive: true, force: true });
  await rename(staging, directory);
}

async function readJson<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new Error(`${path}: cannot read checkpoint file (${(error as Error).message})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message})`);
  }
}

function decode(bytes: Buffer, specs: tf.io.WeightsManifestEntry[]): tf.NamedTensorMap {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return tf.io.decodeWeights(buffer as ArrayBuffer, specs);
}

/** Reads a checkpoint written by {@link writeCheckpoint}; errors name the file at fault. */
export async function readCheckpoint(directory: string): Promise<Checkpoint> {
  const state = await readJson<TrainerStateFile>(join(directory, "trainer-state.json"));
  if (state.version !== CHECKPOINT_VERSION) {
    throw new Error(
      `${join(directory, "trainer-state.json")}: version ${state.version} is not supported (this version reads ${CHECKPOINT_VERSION})`,
    );
  }
  const modelJson = await readJson<{
    weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  }>(join(directory, "model.json"));
  const group = modelJson.weightsManifest[0];
  const weights = decode(await readFile(join(directory, group.paths[0])), group.weights);
  const optimizerJson = await readJson<{ step: number; specs: tf.io.WeightsManifestEntry[] }>(
    join(directory, "optimizer.json"),
  );
  const flat = decode(await readFile(join(directory, "optimizer.bin")), optimizerJson.specs);
  const slots: OptimizerState["slots"] = {};
  for (const [key, tensor] of Object.entries(flat)) {
    const [variable, slot] = key.split("\u0000");
    slots[variable] ??= {};
    slots[variable][slot] = tensor;
  }
  return {
    state,
    weights: new Map(Object.entries(weights)),
    optimizerState: { step: optimizerJson.step, slots },
  };
}

/**
 * Restores a checkpoint into a model and an optimizer: loads the weights strictly, maps the
 * optimizer's slots from torchvision keys onto the model's current variables and moves the
 * model's random streams to where they stood. Disposes the checkpoint's tensors. Returns the
 * training position to continue from.
 */
export function restoreCheckpoint(
  checkpoint: Checkpoint,
  model: Classifier,
  optimizer: Optimizer,
  source = "checkpoint",
): TrainerPosition {
  try {
    const streams = model.randomStreams();
    const saved = checkpoint.state.random;
    if (saved !== undefined) {
      // Checked before anything is assigned, so a mismatch leaves the model as it was.
      const names = [...streams.keys()].sort();
      const savedNames = Object.keys(saved).sort();
      if (names.join("\u0000") !== savedNames.join("\u0000")) {
        throw new Error(
          `${source}: random streams [${savedNames.join(", ")}] in the checkpoint, but the model has [${names.join(", ")}]`,
        );
      }
      for (const [name, state] of Object.entries(saved)) {
        try {
          createRandom(0).setState(state); // validates without moving the model's stream
        } catch (error) {
          throw new Error(`${source}: random stream ${name}: ${(error as Error).message}`);
        }
      }
    }
    model.loadStateDict(checkpoint.weights, { source });
    const variables = model.namedTrainableVariables();
    const slots: OptimizerState["slots"] = {};
    for (const [key, keySlots] of Object.entries(checkpoint.optimizerState.slots)) {
      const variable = variables.get(key);
      if (!variable) {
        throw new Error(
          `${source}: optimizer state for ${key}, which is not a trainable variable of the model`,
        );
      }
      slots[variable.name] = keySlots;
    }
    optimizer.setState({ step: checkpoint.optimizerState.step, slots });
    if (saved !== undefined) for (const [name, random] of streams) random.setState(saved[name]);
  } finally {
    tf.dispose([...checkpoint.weights.values()]);
    tf.dispose(
      Object.values(checkpoint.optimizerState.slots).flatMap((slots) => Object.values(slots)),
    );
  }
  const { epoch, batchesDone, step, best } = checkpoint.state;
  return { epoch, batchesDone, step, best };
}
