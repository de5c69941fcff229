import type { Command } from "commander";

/** Registers `medfm models` and its subcommands. */
export function registerModelsCommand(_program: Command): void {}
