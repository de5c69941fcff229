import { type BackendName, backendNames } from "@medfm/models";
import { takeOverSignals } from "@medfm/track";
import { type Command, Option } from "commander";
import { integerOption, numberOption, seedOption } from "../parse-number";
import { backboneNames, DEFAULT_BACKBONE } from "../train/build-classifier";
import { headNames, runTraining } from "../train/run-training";

const positiveInteger = integerOption({ min: 1 });

/** The exit code of a process ended by `signal`, as a shell reports it (130 for SIGINT). */
function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (signal === "SIGTERM" ? 15 : 2);
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
      new Option("--backbone <name>", "backbone preset")
        .choices([...backboneNames])
        .default(DEFAULT_BACKBONE),
    )
    .addOption(new Option("--head <name>", "head").choices(headNames).default("linear"))
    .option(
      "--weights <path>",
      "torchvision/timm .safetensors (backbone) or a saved classifier folder",
    )
    .option("--image-size <n>", "input size in pixels", positiveInteger, 64)
    .option("--epochs <n>", "epochs", positiveInteger, 10)
    .option("--batch-size <n>", "batch size", positiveInteger, 16)
    .option("--lr <x>", "peak learning rate (cosine to 0)", numberOption({ above: 0 }), 0.003)
    .addOption(
      new Option("--optimizer <name>", "optimizer").choices(["sgd", "adamw"]).default("adamw"),
    )
    .option("--track <target>", "file, mlflow (MEDFM_TRACK_URI) or mlflow://HOST:PORT", "file")
    .option("--seed <n>", "seed of initialisation, order and augmentation", seedOption, 0)
    .option("--output <dir>", "checkpoint folder", ".medfm/checkpoints/train")
    .option("--resume", "continue from <output>/last", false)
    .option(
      "--gradcam <n>",
      "Grad-CAM overlays of the N most and N least confident validation images, for medfm report (0: none)",
      integerOption({ min: 0 }),
      3,
    )
    .addOption(new Option("--backend <name>", "tfjs backend").choices([...backendNames]))
    .action(async (options) => {
      // This command owns SIGINT and SIGTERM from here to the end, for the trainer and the run
      // alike: the first signal finishes the batch, saves <output>/last and stops the run as
      // killed; a second one quits at once (@medfm/track still journals the run at exit).
      const releaseSignals = takeOverSignals();
      const controller = new AbortController();
      let received: NodeJS.Signals | undefined;
      const onSignal = (signal: NodeJS.Signals) => {
        if (received) {
          console.error(`\n${signal} again: quitting now, without a checkpoint`);
          process.exit(signalExitCode(signal));
        }
        received = signal;
        console.error(
          "\nStopping after this batch and saving a checkpoint (Ctrl-C again to quit now)",
        );
        controller.abort();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        const result = await runTraining({
          ...options,
          gradcamCount: options.gradcam,
          backend: options.backend as BackendName | undefined,
          signal: controller.signal,
        });
        if (result.history.interrupted) process.exitCode = signalExitCode(received ?? "SIGINT");
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        releaseSignals();
      }
    });
}
