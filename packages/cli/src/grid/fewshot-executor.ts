import { GridJobConfigError, type GridJobExecutor } from "@medfm/grid";
import { type AdaptationMethod, adaptationMethods, type BackendName } from "@medfm/models";
import { runFewShot } from "../fewshot/run-fewshot";

/**
 * The executor of `medfm grid worker`: one grid job is one shot × experiment of `medfm
 * fewshot` ({@link runFewShot}, the same code), and its metrics are the job's result. A method
 * that is not an adaptation method, or a swept setting `runFewShot` has no option for, fails
 * the job as an invalid configuration (a retry could not help).
 */
export function fewShotExecutor(options: { backend?: BackendName } = {}): GridJobExecutor {
  return async (config, context) => {
    if (!adaptationMethods.includes(config.method as AdaptationMethod))
      throw new GridJobConfigError(
        "method",
        `expected one of ${adaptationMethods.join(", ")} (medfm fewshot), got ${JSON.stringify(config.method)}`,
      );
    const unknown = Object.keys(config.settings);
    if (unknown.length > 0)
      throw new GridJobConfigError(
        `settings.${unknown[0]}`,
        "medfm fewshot has no such setting (it takes task, shot, experiment, method, seed, data, weights, image size, batch size and epochs)",
      );
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
      seed: config.seed,
      backend: options.backend,
      print: context.log,
    });
    const row = results.rows[0];
    return { metrics: row.metrics };
  };
}
