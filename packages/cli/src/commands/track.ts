import type { Command } from "commander";

/** Registers `medfm track` and its subcommands. */
export function registerTrackCommand(_program: Command): void {}
