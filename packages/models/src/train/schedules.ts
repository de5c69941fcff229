/** Maps a global step (0-based, one per optimizer update) to a learning rate. */
export type LearningRateSchedule = (step: number) => number;

/** Options of {@link cosineSchedule}. */
export interface CosineScheduleOptions {
  /** Peak learning rate, reached at the end of warmup. */
  baseLr: number;
  /** Total optimizer steps of the run (epochs × batches per epoch). */
  totalSteps: number;
  /** Linear warmup steps before the cosine decay. Default 0. */
  warmupSteps?: number;
  /** Learning rate at step 0 of warmup, as a fraction of `baseLr`. Default 0.001. */
  warmupStartFactor?: number;
  /** Learning rate at the last step. Default 0 (the MedFM recipe anneals to 0). */
  minLr?: number;
}

/**
 * Cosine annealing with optional linear warmup (mmpretrain's `LinearLR` then
 * `CosineAnnealingLR`, stepped per iteration).
 */
export function cosineSchedule(options: CosineScheduleOptions): LearningRateSchedule {
  const { baseLr, totalSteps } = options;
  const warmupSteps = options.warmupSteps ?? 0;
  const startFactor = options.warmupStartFactor ?? 0.001;
  const minLr = options.minLr ?? 0;
  if (!(totalSteps > 0)) throw new RangeError(`totalSteps must be positive, got ${totalSteps}`);
  if (warmupSteps < 0 || warmupSteps >= totalSteps) {
    throw new RangeError(`warmupSteps must be in [0, totalSteps), got ${warmupSteps}`);
  }
  return (step) => {
    if (step < warmupSteps) {
      const progress = step / warmupSteps;
      return baseLr * (startFactor + (1 - startFactor) * progress);
    }
    const decaySteps = Math.max(1, totalSteps - warmupSteps - 1);
    const progress = Math.min(1, (step - warmupSteps) / decaySteps);
    return minLr + ((baseLr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  };
}

/** Options of {@link stepSchedule}. */
export interface StepScheduleOptions {
  /** Initial learning rate. */
  baseLr: number;
  /** Steps at which the rate is multiplied by `gamma`. */
  milestones: readonly number[];
  /** Multiplicative factor. Default 0.1. */
  gamma?: number;
}

/** Step decay (`MultiStepLR`): the rate is multiplied by `gamma` at each milestone. */
export function stepSchedule(options: StepScheduleOptions): LearningRateSchedule {
  const gamma = options.gamma ?? 0.1;
  const milestones = [...options.milestones].sort((a, b) => a - b);
  return (step) => options.baseLr * gamma ** milestones.filter((m) => step >= m).length;
}

/** A constant learning rate. */
export function constantSchedule(lr: number): LearningRateSchedule {
  return () => lr;
}
