#!/usr/bin/env node
import { Command } from "commander";
import { registerNativeBackendCommands } from "./commands";

const program = new Command("medfm-native-backend")
  .description(
    "tfjs-node's native TensorFlow backend from PyPI's TensorFlow wheels, with @medfm/models' kernels",
  )
  .showHelpAfterError();
registerNativeBackendCommands(program);
program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
