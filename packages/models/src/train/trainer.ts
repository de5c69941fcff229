import { join } from "node:path";
import type { Batch, TaskDefinition } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import type { Classifier } from "../classifier";
import {
  readCheckpoint,
  restoreCheckpoint,
  type TrainerPosition,
  writeCheckpoint,
} from "./checkpoint";
import { evaluateModel, type TaskEvaluation } from "./evaluate";
import { binaryCrossEntropyWithLogits, type LossFunction, softmaxCrossEntropy } from "./losses";
import { clipGradientsByGlobalNorm, type Optimizer } from "./optimizers";
import { constantSchedule, type LearningRateSchedule } from "./schedules";

/** What the trainer needs of a model: a forward pass and the variables to update. */
export interface TrainableModel {
  /** Logits `[batch, classes]`; `training` switches batch norm to batch statistics. */
  forward(images: tf.Tensor4D, options: { training: boolean }): tf.Tensor2D;
  /** The variables the optimizer updates (frozen ones excluded). */
  trainableVariables(): tf.Variable[];
}

/** A source of batches, one pass per epoch (the `@medfm/data` loader is one). */
export interface BatchSource {
  /** Batches of epoch `epoch` (0-based); shuffling and augmentation may depend on it. */
  epoch(epoch: number): AsyncIterable<Batch>;
  /** Batches per epoch, when known (used for schedules and progress). */
  readonly length?: number;
}

/** Payload of the `batchEnd` event. */
export interface BatchEndEvent {
  epoch: number;
  /** Batch index within the epoch. */
  batch: number;
  /** Global optimizer step (0-based) of this batch. */
  step: number;
  /** Batches per epoch, when the source knows it. */
  batches?: number;
  loss: number;
  lr: number;
  /** Images in this batch. */
  size: number;
}

/** Payload of the `evaluate` event. */
export interface EvaluateEvent {
  epoch: number;
  evaluation: TaskEvaluation;
}

/** Payload of the `epochEnd` event. */
export interface EpochEndEvent {
  epoch: number;
  /** Mean training loss over the epoch's batches. */
  loss: number;
  /** Validation results, when a validation source is set. */
  evaluation?: TaskEvaluation;
  /** Seconds the epoch took, evaluation included. */
  seconds: number;
}

/** The trainer's events and their payloads. */
export interface TrainerEvents {
  batchEnd: BatchEndEvent;
  evaluate: EvaluateEvent;
  epochEnd: EpochEndEvent;
}

/** Options of {@link createTrainer}. */
export interface TrainerOptions {
  /** The model to train. */
  model: TrainableModel;
  /** The task: decides the default loss and the validation metrics. */
  task: TaskDefinition;
  /** The optimizer (e.g. `sgd({ momentum: 0.9, weightDecay: 1e-4 })`). */
  optimizer: Optimizer;
  /** Learning rate per global step. Default: constant 0.001. */
  schedule?: LearningRateSchedule;
  /** Loss; default BCE with logits (multi-label) or softmax cross-entropy (multi-class). */
  loss?: LossFunction;
  /** Clip gradients to this global L2 norm. */
  gradientClipNorm?: number;
  /**
   * Write checkpoints into this folder: `last/` after every epoch (and when `fit` is aborted),
   * `best/` whenever the task's main metric improves. Needs a {@link Classifier} as the model.
   */
  checkpointDir?: string;
  /** Stored in each checkpoint's `trainer-state.json` (task, options, ...). */
  checkpointMetadata?: Record<string, unknown>;
}

/** Result of {@link Trainer.fit}: one entry per epoch. */
export interface TrainingHistory {
  epochs: EpochEndEvent[];
  /** True when `fit` stopped early because its signal was aborted (a checkpoint was saved). */
  interrupted: boolean;
  /** Best main-metric value seen and its epoch, when evaluated. */
  best?: TrainerPosition["best"];
}

const nonFiniteLossMarker = Symbol.for("medfm.models.NonFiniteLossError");

/** Error thrown when the loss stops being finite; names the epoch, batch and step. */
export class NonFiniteLossError extends Error {
  /** Marks instances across copies of the package (see {@link NonFiniteLossError.isInstance}). */
  readonly [nonFiniteLossMarker] = true;

  constructor(
    readonly epoch: number,
    readonly batch: number,
    readonly step: number,
    readonly loss: number,
    readonly names: readonly string[],
  ) {
    super(
      `Loss is ${loss} at epoch ${epoch}, batch ${batch} (global step ${step}); training stopped. ` +
        `Batch samples: ${names.slice(0, 4).join(", ")}${names.length > 4 ? ", ..." : ""}. ` +
        "Lower the learning rate, enable gradient clipping, or check these images.",
    );
    this.name = "NonFiniteLossError";
  }

  /** Whether `error` is a {@link NonFiniteLossError}, across package copies. */
  static isInstance(error: unknown): error is NonFiniteLossError {
    return (
      typeof error === "object" &&
      error !== null &&
      (error as Record<symbol, unknown>)[nonFiniteLossMarker] === true
    );
  }
}

/** Trains a model over batch sources and evaluates it with the task's metrics each epoch. */
export interface Trainer {
  /** Subscribes to an event; returns a function that unsubscribes. */
  on<E extends keyof TrainerEvents>(
    event: E,
    listener: (payload: TrainerEvents[E]) => void,
  ): () => void;
  /** Runs one optimizer step on a batch and returns its loss. */
  trainStep(batch: Batch, step: number): { loss: number; lr: number };
  /** Runs `epochs` epochs over `train`, evaluating on `validation` after each. */
  fit(options: {
    train: BatchSource;
    validation?: BatchSource;
    epochs: number;
    /** First epoch to run, without a checkpoint. Default 0. */
    initialEpoch?: number;
    /**
     * Continue from a checkpoint: `true` for `<checkpointDir>/last`, or a checkpoint folder.
     * Weights, optimizer state, schedule position and the place in the epoch are restored, so
     * the result equals an uninterrupted run (loader order depends only on seed and epoch).
     */
    resume?: boolean | string;
    /** Aborting stops after the current batch, saves `<checkpointDir>/last` and returns. */
    signal?: AbortSignal;
  }): Promise<TrainingHistory>;
  /** Eval-mode scores (logits) and targets over a source, then the task's metrics. */
  evaluate(source: BatchSource, epoch?: number): Promise<TaskEvaluation>;
  /** Optimizer steps taken so far. */
  readonly step: number;
}

function toTensors(batch: Batch): { images: tf.Tensor4D; targets: tf.Tensor2D } {
  const [n] = batch.shape;
  return {
    images: tf.tensor4d(batch.images, batch.shape),
    targets: tf.tensor2d(batch.labels, [n, batch.labels.length / n]),
  };
}

/**
 * Creates a trainer. It knows nothing of tracking or progress bars: those subscribe to its
 * events (`batchEnd`, `evaluate`, `epochEnd`).
 */
export function createTrainer(options: TrainerOptions): Trainer {
  const { model, task, optimizer } = options;
  const schedule = options.schedule ?? constantSchedule(0.001);
  const loss =
    options.loss ??
    (task.kind === "multi-label" ? binaryCrossEntropyWithLogits() : softmaxCrossEntropy());
  const listeners: { [E in keyof TrainerEvents]: Array<(payload: TrainerEvents[E]) => void> } = {
    batchEnd: [],
    evaluate: [],
    epochEnd: [],
  };
  const emit = <E extends keyof TrainerEvents>(event: E, payload: TrainerEvents[E]): void => {
    for (const listener of listeners[event]) listener(payload);
  };
  let globalStep = 0;

  const trainStep = (batch: Batch, step: number): { loss: number; lr: number } => {
    const lr = schedule(step);
    const variables = model.trainableVariables();
    const { images, targets } = toTensors(batch);
    try {
      const { value, grads } = tf.variableGrads(
        () => loss(model.forward(images, { training: true }), targets),
        variables,
      );
      const lossValue = value.dataSync()[0];
      value.dispose();
      if (!Number.isFinite(lossValue)) {
        tf.dispose(grads);
        return { loss: lossValue, lr };
      }
      let gradients = grads;
      if (options.gradientClipNorm !== undefined) {
        gradients = clipGradientsByGlobalNorm(grads, options.gradientClipNorm).gradients;
        if (gradients !== grads) tf.dispose(grads);
      }
      optimizer.step(variables, gradients, lr);
      tf.dispose(gradients);
      return { loss: lossValue, lr };
    } finally {
      images.dispose();
      targets.dispose();
    }
  };

  const evaluate = (source: BatchSource, epoch = 0): Promise<TaskEvaluation> =>
    evaluateModel(task, source, (images) => model.forward(images, { training: false }), epoch);

  return {
    on(event, listener) {
      listeners[event].push(listener);
      return () => {
        const index = listeners[event].indexOf(listener);
        if (index >= 0) listeners[event].splice(index, 1);
      };
    },
    trainStep,
    evaluate,
    get step() {
      return globalStep;
    },
    async fit({ train, validation, epochs, initialEpoch = 0, resume, signal }) {
      const checkpointModel = (): Classifier => {
        if (!options.checkpointDir) throw new Error("checkpoints need the checkpointDir option");
        if (typeof (model as Partial<Classifier>).stateDict !== "function") {
          throw new Error("checkpoints need a Classifier (with stateDict) as the model");
        }
        return model as Classifier;
      };
      const save = (name: "last" | "best", position: TrainerPosition) =>
        writeCheckpoint(
          join(options.checkpointDir!, name),
          checkpointModel(),
          optimizer,
          position,
          options.checkpointMetadata,
        );
      let startEpoch = initialEpoch;
      let skipBatches = 0;
      let best: TrainerPosition["best"];
      if (resume) {
        const directory =
          typeof resume === "string" ? resume : join(options.checkpointDir ?? ".", "last");
        const position = restoreCheckpoint(
          await readCheckpoint(directory),
          checkpointModel(),
          optimizer,
          directory,
        );
        startEpoch = position.epoch;
        skipBatches = position.batchesDone;
        globalStep = position.step;
        best = position.best;
      }
      const history: TrainingHistory = { epochs: [], interrupted: false, best };
      for (let epoch = startEpoch; epoch < epochs; epoch += 1) {
        const started = performance.now();
        let lossSum = 0;
        let lossCount = 0;
        let batchIndex = 0;
        for await (const batch of train.epoch(epoch)) {
          if (skipBatches > 0) {
            // Already applied before the checkpoint: the order is the same, skip them.
            skipBatches -= 1;
            batchIndex += 1;
            continue;
          }
          if (signal?.aborted) {
            if (options.checkpointDir) {
              await save("last", { epoch, batchesDone: batchIndex, step: globalStep, best });
            }
            history.interrupted = true;
            return history;
          }
          const result = trainStep(batch, globalStep);
          if (!Number.isFinite(result.loss)) {
            throw new NonFiniteLossError(epoch, batchIndex, globalStep, result.loss, batch.names);
          }
          lossSum += result.loss;
          lossCount += 1;
          emit("batchEnd", {
            epoch,
            batch: batchIndex,
            step: globalStep,
            batches: train.length,
            loss: result.loss,
            lr: result.lr,
            size: batch.names.length,
          });
          globalStep += 1;
          batchIndex += 1;
        }
        let evaluation: TaskEvaluation | undefined;
        if (validation) {
          evaluation = await evaluate(validation, epoch);
          emit("evaluate", { epoch, evaluation });
        }
        const event: EpochEndEvent = {
          epoch,
          loss: lossCount ? lossSum / lossCount : Number.NaN,
          evaluation,
          seconds: (performance.now() - started) / 1000,
        };
        history.epochs.push(event);
        let improved = false;
        if (evaluation) {
          const value = evaluation.metrics[evaluation.mainMetric];
          if (!best || value > best.value) {
            best = { metric: evaluation.mainMetric, value, epoch };
            history.best = best;
            improved = true;
          }
        }
        if (options.checkpointDir) {
          const position = { epoch: epoch + 1, batchesDone: 0, step: globalStep, best };
          await save("last", position);
          if (improved) await save("best", position);
        }
        emit("epochEnd", event);
      }
      return history;
    },
  };
}
