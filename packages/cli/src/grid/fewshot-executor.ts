import { type GridJobConfig, GridJobConfigError, type GridJobExecutor } from "@medfm/grid";
import { type AdaptationMethod, adaptationMethods, type BackendName } from "@medfm/models";
import { runFewShot } from "../fewshot/run-fewshot";

/** A `--set` key a few-shot grid job takes: the `medfm fewshot` flag it stands for. */
interface FewShotSetting {
  option: "learningRate" | "weightDecay" | "probeC";
  /** The adaptation methods the setting changes; on any other it would be silently ignored. */
  methods: readonly AdaptationMethod[];
  /** Whether 0 is a valid value (weight decay); otherwise the value must be above 0. */
  zeroAllowed: boolean;
}

/**
 * The settings `medfm grid plan --set KEY=v1,v2` sweeps for few-shot jobs, named as the
 * `medfm fewshot` flags (`--lr`, `--weight-decay`, `--probe-c`). Epochs, batch size and image
 * size are job fields (`--set epochs=5,10` sweeps them too); shots are `--shots`.
 */
export const fewShotSettings: Readonly<Record<string, FewShotSetting>> = Object.freeze({
  lr: { option: "learningRate", methods: ["visual-prompt", "vpt", "finetune"], zeroAllowed: false },
  "weight-decay": {
    option: "weightDecay",
    methods: ["visual-prompt", "vpt", "finetune"],
    zeroAllowed: true,
  },
  "probe-c": { option: "probeC", methods: ["linear-probe"], zeroAllowed: false },
});

/**
 * Checks a few-shot job's method and swept settings; throws {@link GridJobConfigError} naming
 * the method or the setting at fault and what is allowed. Returns the `runFewShot` options the
 * settings stand for. `medfm grid plan` calls it before writing a plan, the worker before a job.
 */
export function fewShotJobOptions(
  method: string,
  settings: GridJobConfig["settings"],
): { learningRate?: number; weightDecay?: number; probeC?: number } {
  if (!adaptationMethods.includes(method as AdaptationMethod))
    throw new GridJobConfigError(
      "method",
      `expected train or one of ${adaptationMethods.join(", ")} (medfm fewshot), got ${JSON.stringify(method)}`,
    );
  const options: { learningRate?: number; weightDecay?: number; probeC?: number } = {};
  for (const [key, value] of Object.entries(settings)) {
    const setting = fewShotSettings[key];
    if (!setting)
      throw new GridJobConfigError(
        `settings.${key}`,
        `medfm fewshot has no setting ${JSON.stringify(key)}; the settings are ${Object.keys(fewShotSettings).join(", ")} (and the job fields epochs, batch-size, image-size)`,
      );
    if (!setting.methods.includes(method as AdaptationMethod))
      throw new GridJobConfigError(
        `settings.${key}`,
        `${key} does not change ${method}; it applies to ${setting.methods.join(", ")}`,
      );
    const valid =
      typeof value === "number" &&
      Number.isFinite(value) &&
      (setting.zeroAllowed ? value >= 0 : value > 0);
    if (!valid)
      throw new GridJobConfigError(
        `settings.${key}`,
        `expected a ${setting.zeroAllowed ? "non-negative" : "positive"} number, got ${JSON.stringify(value)}`,
      );
    options[setting.option] = value as number;
  }
  return options;
}

/**
 * The executor of `medfm grid worker` for few-shot methods: one grid job is one shot ×
 * experiment of `medfm fewshot` ({@link runFewShot}, the same code), its swept settings
 * ({@link fewShotSettings}) passed on as the flags they stand for, and its metrics are the
 * job's result. A method that is not an adaptation method, or a setting `runFewShot` has no
 * option for, fails the job as an invalid configuration (a retry could not help).
 */
export function fewShotExecutor(options: { backend?: BackendName } = {}): GridJobExecutor {
  return async (config, context) => {
    const settings = fewShotJobOptions(config.method, config.settings);
    await context.progress(0.05);
    const results = await runFewShot({
      task: config.task,
      dataRoot: config.dataRoot,
      anns: config.anns,
      testAnn: config.testAnn,
      weights: config.weights,
      shots: [config.shot],
      experiments: [config.experiment],
      method: config.method as AdaptationMethod,
      imageSize: config.imageSize,
      batchSize: config.batchSize,
      epochs: config.epochs,
      ...settings,
      seed: config.seed,
      backend: options.backend,
      print: context.log,
    });
    const row = results.rows[0];
    return { metrics: row.metrics };
  };
}
