import type { Command } from "commander";

/** Registers `medfm backend` and its subcommands. */
export function registerBackendCommand(_program: Command): void {}
