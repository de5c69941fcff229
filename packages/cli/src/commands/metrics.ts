import type { Command } from "commander";

/** Registers `medfm metrics` and its subcommands. */
export function registerMetricsCommand(_program: Command): void {}
