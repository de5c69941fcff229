import type { Command } from "commander";

/** Registers `medfm data` and its subcommands. */
export function registerDataCommand(_program: Command): void {}
