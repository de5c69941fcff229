import { fileURLToPath } from "node:url";
import { registerNativeBackendCommands } from "@medfm/native-backend";
import type { Command } from "commander";

/**
 * Registers `medfm backend install|status`: `@medfm/native-backend`'s commands, with this CLI's
 * own `@tensorflow/tfjs` as the one to register into when the working directory has none.
 */
export function registerBackendCommand(program: Command): void {
  const backend = program
    .command("backend")
    .description("Native TensorFlow backend for tfjs, provisioned from PyPI wheels");
  registerNativeBackendCommands(backend, {
    resolveTfjsFrom: [fileURLToPath(import.meta.url)],
    invokedAs: "medfm backend",
  });
}
