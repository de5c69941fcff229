import type { RunMode } from "./run";
import { RunModeError } from "./track-error";

/** Every run mode, in the order the docs list them. */
export const runModes: readonly RunMode[] = ["async", "sync", "offline", "debug", "read-only"];

/** Resolves a run's mode: the option, else `MEDFM_TRACK_MODE`, else `async`. */
export function resolveMode(mode: RunMode | undefined, env = process.env): RunMode {
  const chosen = mode ?? (env.MEDFM_TRACK_MODE || undefined) ?? "async";
  if (!runModes.includes(chosen as RunMode)) {
    throw new RunModeError(
      `unknown mode ${JSON.stringify(chosen)}${mode ? "" : " (from MEDFM_TRACK_MODE)"}; expected one of ${runModes.join(", ")}`,
    );
  }
  return chosen as RunMode;
}
