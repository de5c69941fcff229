import { type BackendName, backendNames } from "@medfm/models";
import { type Command, InvalidArgumentError, Option } from "commander";
import { backboneNames } from "../train/build-classifier";
import { headNames, runTraining } from "../train/run-training";

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0)
    throw new InvalidArgumentError(`expected a positive integer, got ${value}`);
  return parsed;
}

function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!(parsed > 0)) throw new InvalidArgumentError(`expected a positive number, got ${value}`);
  return parsed;
}

/** Registers `medfm train`. */
export function registerTrainCommand(program: Command): void {
  program
    .command("train")
    .description(
      "Train a classifier for a MedFM task, with per-epoch metrics, best/last checkpoints and a tracked run",
    )
    .addOption(
      new Option("--task <task>", "MedFM task")
        .choices(["chest", "colon", "endo"])
        .makeOptionMandatory(),
    )
    .option(
      "--data-root <dir>",
      "folder the annotation names are relative to (omit: a synthetic dataset)",
    )
    .option("--train-ann <file>", "training annotation file")
    .option("--val-ann <file>", "validation annotation file")
    .option("--test-ann <file>", "test annotation file, evaluated with the last weights")
    .addOption(
      new Option("--backbone <name>", "backbone").choices(backboneNames).default("densenet-tiny"),
    )
    .addOption(new Option("--head <name>", "head").choices(headNames).default("linear"))
    .option(
      "--weights <path>",
      "torchvision/timm .safetensors (backbone) or a saved classifier folder",
    )
    .option("--image-size <n>", "input size in pixels", positiveInteger, 64)
    .option("--epochs <n>", "epochs", positiveInteger, 10)
    .option("--batch-size <n>", "batch size", positiveInteger, 16)
    .option("--lr <x>", "peak learning rate (cosine to 0)", positiveNumber, 0.003)
    .addOption(
      new Option("--optimizer <name>", "optimizer").choices(["sgd", "adamw"]).default("adamw"),
    )
    .option("--track <target>", "file, mlflow (MEDFM_TRACK_URI) or mlflow://HOST:PORT", "file")
    .option(
      "--seed <n>",
      "seed of initialisation, order and augmentation",
      (value) => Number(value),
      0,
    )
    .option("--output <dir>", "checkpoint folder", ".medfm/checkpoints/train")
    .option("--resume", "continue from <output>/last", false)
    .option(
      "--gradcam <n>",
      "Grad-CAM overlays of the N most and N least confident validation images, for medfm report (0: none)",
      (value) => Number(value),
      3,
    )
    .addOption(new Option("--backend <name>", "tfjs backend").choices([...backendNames]))
    .action(async (options) => {
      const controller = new AbortController();
      const onSignal = () => {
        console.error(
          "\nStopping after this batch and saving a checkpoint (Ctrl-C again to quit now)",
        );
        process.off("SIGINT", onSignal);
        controller.abort();
      };
      process.on("SIGINT", onSignal);
      try {
        const result = await runTraining({
          ...options,
          gradcamCount: options.gradcam,
          backend: options.backend as BackendName | undefined,
          signal: controller.signal,
        });
        if (result.history.interrupted) process.exitCode = 130;
      } finally {
        process.off("SIGINT", onSignal);
      }
    });
}
