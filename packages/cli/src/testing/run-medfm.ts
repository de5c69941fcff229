import type { Command } from "commander";
import { vi } from "vitest";
import { createProgram } from "../program";

/**
 * Runs `medfm ARGS` in-process for tests and returns what it printed: commander's own output
 * (help, `--json` written through `writeOut`) and `console.log` lines, in order. Errors are
 * thrown instead of exiting the process; commander's stderr is silenced.
 */
export async function runMedfm(args: readonly string[]): Promise<string> {
  const program = createProgram();
  let out = "";
  const quiet = (command: Command) => {
    command.exitOverride();
    command.configureOutput({
      writeOut: (text) => {
        out += text;
      },
      writeErr: () => {},
    });
    command.commands.forEach(quiet);
  };
  quiet(program);
  const log = vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => {
    out += `${parts.map(String).join(" ")}\n`;
  });
  try {
    await program.parseAsync(["node", "medfm", ...args]);
  } finally {
    log.mockRestore();
  }
  return out;
}

/** {@link runMedfm}'s output as lines, without the empty last one. */
export async function runMedfmLines(args: readonly string[]): Promise<string[]> {
  return (await runMedfm(args))
    .split("\n")
    .filter((line, index, lines) => line !== "" || index < lines.length - 1);
}
