import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  createBackend,
  defaultRunsRoot,
  journalFileName,
  listRuns,
  quarantineFileName,
  readJournal,
  readSyncState,
  syncRun,
} from "@medfm/track";
import type { Command } from "commander";
import { integerOption } from "../parse-number";

/** Options of `medfm track sync`. */
interface TrackSyncOptions {
  path?: string;
  uri?: string;
  backend?: string;
  maxRetries: number;
}

/** The run folders `medfm track sync` looks at: one run, or every run under a root. */
function runFolders(path: string | undefined): string[] {
  const folder = resolve(path ?? defaultRunsRoot());
  if (existsSync(join(folder, journalFileName))) return [folder];
  return listRuns(folder);
}

/** Registers `medfm track` and its subcommands. */
export function registerTrackCommand(program: Command): void {
  const track = program.command("track").description("Experiment runs: sync journals to servers");
  track
    .command("sync")
    .description(
      "Upload offline and unsynced runs to their server. Resumable and idempotent: run it again after a crash and every point arrives exactly once.",
    )
    .option("--path <dir>", "a run folder, or a folder of runs (default ./.medfm/runs)")
    .option("--uri <uri>", "server URI (default: the run's own, else MEDFM_TRACK_URI)")
    .option("--backend <name>", "backend for runs created with the file backend", "mlflow")
    .option(
      "--max-retries <n>",
      "retries of each request before a run's sync fails",
      integerOption({ min: 0 }),
      5,
    )
    .action(async (options: TrackSyncOptions, command: Command) => {
      const write = (text: string) => {
        const output = command.configureOutput();
        if (output.writeOut) output.writeOut(text);
        else process.stdout.write(text);
      };
      const folders = runFolders(options.path);
      if (folders.length === 0) {
        write(`no runs under ${resolve(options.path ?? defaultRunsRoot())}\n`);
        return;
      }
      let failed = 0;
      let synced = 0;
      for (const folder of folders) {
        // One broken run (an unreadable journal, say) is reported and the others still sync.
        let header: ReturnType<typeof readJournal>["header"];
        try {
          ({ header } = readJournal(join(folder, journalFileName), 0, 0));
        } catch (error) {
          failed += 1;
          write(`${folder}: cannot sync: ${(error as Error).message}\n`);
          continue;
        }
        const backendName = header.backend === "file" ? options.backend : header.backend;
        const uri = options.uri ?? header.uri ?? process.env.MEDFM_TRACK_URI;
        if (!uri || !backendName) {
          if (options.path) {
            write(`${header.runId}: skipped, no server URI (pass --uri or set MEDFM_TRACK_URI)\n`);
          }
          continue;
        }
        if (header.backend === "file" && !options.uri && !process.env.MEDFM_TRACK_URI) continue;
        let backend: ReturnType<typeof createBackend> | undefined;
        try {
          const state = readSyncState(folder);
          if (state?.finished && state.uri === uri) continue;
          backend = createBackend(backendName, {
            uri,
            http: { maxRetries: options.maxRetries },
            warn: (message) => write(`${header.runId}: ${message}\n`),
          });
          const result = await syncRun(folder, backend, {
            warn: (message) => write(`${header.runId}: ${message}\n`),
          });
          synced += 1;
          write(
            `${header.runId}: ${result.itemsSent} items, ${result.filesSent} files -> ${backend.name} ${backend.uri} run ${result.remote.id}${result.finished ? " (finished)" : " (still running)"}${result.quarantined > 0 ? `, ${result.quarantined} rejected by the server (kept in ${quarantineFileName})` : ""}\n`,
          );
        } catch (error) {
          failed += 1;
          write(`${header.runId}: sync failed: ${(error as Error).message}\n`);
        } finally {
          await backend?.close();
        }
      }
      write(`${synced} run(s) synced, ${failed} failed\n`);
      if (failed > 0) process.exitCode = 1;
    });
}
