import type { Random } from "@medfm/data";
import type * as tf from "@tensorflow/tfjs";

/** Options of a backbone's forward pass. */
export interface BackboneForwardOptions {
  /** Batch statistics and dropout (true) or running statistics and no dropout (false). */
  training: boolean;
  /**
   * In training mode, fold batch statistics into the batch-norm running estimates (default
   * true, as torch does). Set false for passes that must not move them (e.g. Grad-CAM).
   */
  updateStatistics?: boolean;
}

/** What a saved model records about its backbone, enough to rebuild it. */
export interface BackboneMetadata {
  /** Backbone family, e.g. `"densenet"`. */
  type: string;
  /** The family's configuration (for DenseNet, a `DenseNetConfig`). */
  config: Record<string, unknown>;
}

/**
 * A feature extractor whose tensors carry torchvision state-dict names. The contract the
 * classifier builds on: DenseNet implements it; another architecture would too.
 */
export interface Backbone {
  /** Architecture name, e.g. `"densenet121"` or `"densenet"` for a custom configuration. */
  readonly name: string;
  /** Length of the pooled feature vector. */
  readonly numFeatures: number;
  /** Names of the stages that `freezeStages` addresses, input side first (e.g. `denseblock1`). */
  readonly stageNames: readonly string[];
  /** The final feature map, NHWC, after the last normalisation and ReLU (before pooling). */
  featureMap(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor4D;
  /** Pooled features `[batch, numFeatures]`: the global average of {@link featureMap}. */
  forward(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor2D;
  /** Every tensor under its torchvision key (`features.…`), in torchvision order, buffers included. */
  namedVariables(): Map<string, tf.Variable>;
  /** Trainable parameters (not frozen) under their torchvision keys, in torchvision order. */
  namedTrainableVariables(): Map<string, tf.Variable>;
  /** Counters kept outside tensors (`….num_batches_tracked`), by torchvision key. */
  batchCounters(): Map<string, number>;
  /** Sets the counters read from a state dict; unknown keys throw. */
  setBatchCounters(counters: Map<string, number>): void;
  /**
   * Freezes the stem and every stage except the last `trainableStages` (0 freezes all), and
   * the final norm when `trainableStages` is 0. Frozen batch norms use their running statistics.
   */
  freezeStages(trainableStages: number): void;
  /** What a saved model records to rebuild this backbone. */
  metadata(): BackboneMetadata;
  /**
   * The seeded generators the training forward pass draws from (dropout masks), by name.
   * Checkpoints save and restore their states, so a resumed training draws what an
   * uninterrupted one would. Omit when the backbone draws nothing.
   */
  randomStreams?(): Map<string, Random>;
  /** Releases every variable. */
  dispose(): void;
}
