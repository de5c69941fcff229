import { Command } from "commander";
import { registerBackendCommand } from "./commands/backend";
import { registerDataCommand } from "./commands/data";
import { registerFewShotCommand } from "./commands/fewshot";
import { registerGradcamCommand } from "./commands/gradcam";
import { registerGridCommand } from "./commands/grid";
import { registerMetricsCommand } from "./commands/metrics";
import { registerModelsCommand } from "./commands/models";
import { registerPredictCommand } from "./commands/predict";
import { registerReportCommand } from "./commands/report";
import { registerServeCommands } from "./commands/serve";
import { registerTrackCommand } from "./commands/track";
import { registerTrainCommand } from "./commands/train";

/** Builds the `medfm` command with every subcommand registered. */
export function createProgram(): Command {
  const program = new Command("medfm")
    .description("MedFM.js: medical image classification for Node.js")
    .showHelpAfterError();
  registerDataCommand(program);
  registerMetricsCommand(program);
  registerModelsCommand(program);
  registerBackendCommand(program);
  registerTrackCommand(program);
  registerTrainCommand(program);
  registerPredictCommand(program);
  registerGradcamCommand(program);
  registerReportCommand(program);
  registerFewShotCommand(program);
  registerGridCommand(program);
  registerServeCommands(program);
  return program;
}
