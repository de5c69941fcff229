import type { Random } from "@medfm/data";
import type * as tf from "@tensorflow/tfjs";

/** Options of a backbone's forward pass. */
export interface BackboneForwardOptions {
  /** Batch statistics and dropout (true) or running statistics and no dropout (false). */
  training: boolean;
  /**
   * In training mode, fold batch statistics into running estimates (batch norms; default true,
   * as torch does). Set false for passes that must not move them (e.g. Grad-CAM). Backbones
   * without running statistics ignore it.
   */
  updateStatistics?: boolean;
}

/** What a saved model records about its backbone, enough to rebuild it. */
export interface BackboneMetadata {
  /** Backbone family, a registered `BackboneSpec.type` (e.g. `"densenet"`, `"vit"`). */
  type: string;
  /** The family's configuration, as its spec's `create` takes it. */
  config: Record<string, unknown>;
}

/**
 * An architecture-neutral feature extractor whose tensors carry their published state-dict
 * names (torchvision, timm). The contract the classifier builds on; every architecture
 * registered through a `BackboneSpec` implements it.
 */
export interface Backbone {
  /** Architecture name, e.g. `"densenet121"` or `"densenet"` for a custom configuration. */
  readonly name: string;
  /** Length of the pooled feature vector {@link forward} returns. */
  readonly numFeatures: number;
  /**
   * Names of the stages {@link freezeStages} addresses, input side first (DenseNet: its dense
   * blocks; a ViT: its transformer blocks).
   */
  readonly stageNames: readonly string[];
  /**
   * Pooled features `[batch, numFeatures]`. Pooling belongs to the backbone: the global mean of
   * the final feature map for CNNs, the CLS token or the mean of patch tokens for ViTs.
   */
  forward(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor2D;
  /**
   * The final spatial feature map, NHWC, before pooling (Grad-CAM needs it). A ViT may return
   * its patch tokens laid out on the patch grid. Omit when the architecture has no such map.
   */
  featureMap?(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor4D;
  /**
   * Pools a map as {@link featureMap} returns it into the features {@link forward} returns
   * (required when `featureMap` is given, so Grad-CAM differentiates through the real pooling).
   */
  poolFeatureMap?(featureMap: tf.Tensor4D): tf.Tensor2D;
  /** Every tensor under its published key, in published order, buffers included. */
  namedVariables(): Map<string, tf.Variable>;
  /** Trainable parameters (not frozen) under their published keys, in published order. */
  namedTrainableVariables(): Map<string, tf.Variable>;
  /**
   * Integer state kept outside tensors, by published key (DenseNet: batch norms'
   * `….num_batches_tracked`). Omit when the architecture keeps none.
   */
  nonTensorState?(): Map<string, number>;
  /** Sets the state {@link nonTensorState} returns, read from a state dict; unknown keys throw. */
  setNonTensorState?(state: Map<string, number>): void;
  /**
   * Freezes the stem and every stage of {@link stageNames} except the last `trainableStages`
   * (0 freezes everything, final norm included). Frozen parts behave as in evaluation (e.g.
   * batch norms use their running statistics).
   */
  freezeStages(trainableStages: number): void;
  /** Makes every parameter trainable again, the stem included (default: all stages trainable). */
  unfreezeAll?(): void;
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
