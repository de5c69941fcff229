import { type HubPreprocessing, pullSnapshot, readHubConfig } from "@medfm/models";
import type { Command } from "commander";
import { createDownloadProgress } from "../download-progress";

interface PullOptions {
  file?: string[];
  cacheDir?: string;
  offline?: boolean;
  json?: boolean;
}

/** Splits `REPO[@REVISION]`; repository ids never contain `@`, revisions may contain `/`. */
export function parseRepoReference(reference: string): { repo: string; revision: string } {
  const at = reference.indexOf("@");
  if (at === -1) return { repo: reference, revision: "main" };
  const repo = reference.slice(0, at);
  const revision = reference.slice(at + 1);
  if (repo.length === 0 || revision.length === 0) {
    throw new Error(
      `expected REPO[@REVISION] like timm/vit_small_patch16_224.augreg_in21k@main, got ${JSON.stringify(reference)}`,
    );
  }
  return { repo, revision };
}

function describePreprocessing(preprocessing: HubPreprocessing): string {
  const numbers = (values: readonly number[]) => values.map((value) => String(value)).join(", ");
  return `mean [${numbers(preprocessing.mean)}], std [${numbers(preprocessing.std)}], input ${preprocessing.inputSize}, ${preprocessing.interpolation}, crop ${preprocessing.crop}${preprocessing.cropMode ? ` (${preprocessing.cropMode})` : ""}`;
}

/**
 * Registers `medfm models pull REPO[@REVISION] [--file NAME ...]`: downloads a model from the
 * Hugging Face hub into huggingface_hub's cache (HF_ENDPOINT, HF_TOKEN, HF_HOME / HF_HUB_CACHE
 * and HF_HUB_OFFLINE apply), with a progress bar on standard error.
 */
export function registerModelsPullCommand(models: Command): void {
  models
    .command("pull")
    .description(
      "Download a model from the Hugging Face hub into its cache (huggingface_hub's layout, shared with Python)",
    )
    .argument(
      "<repo>",
      "REPO[@REVISION], e.g. timm/vit_small_patch16_224.augreg_in21k or microsoft/rad-dino@main",
    )
    .option(
      "--file <name...>",
      "fetch only these files; default config.json, model.safetensors (or its index and shards) and preprocessor_config.json",
    )
    .option(
      "--cache-dir <dir>",
      "cache folder; default HF_HUB_CACHE, else $HF_HOME/hub (~/.cache/huggingface/hub)",
    )
    .option("--offline", "use the cache only, as HF_HUB_OFFLINE=1 does")
    .option("--json", "print the snapshot as JSON")
    .action(async (reference: string, options: PullOptions, command: Command) => {
      const output = command.configureOutput();
      const write = output.writeOut ?? ((text: string) => process.stdout.write(text));
      const { repo, revision } = parseRepoReference(reference);
      const progress = createDownloadProgress();
      let snapshot: Awaited<ReturnType<typeof pullSnapshot>>;
      try {
        snapshot = await pullSnapshot(repo, {
          revision,
          ...(options.file ? { files: options.file } : {}),
          ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
          ...(options.offline ? { offline: true } : {}),
          onProgress: (event) => progress.onProgress(event),
        });
      } finally {
        progress.stop();
      }
      let preprocessing: HubPreprocessing | undefined;
      let preprocessingNote: string | undefined;
      if (snapshot.files.has("config.json")) {
        try {
          preprocessing = (await readHubConfig(snapshot)).preprocessing;
        } catch (error) {
          preprocessingNote = (error as Error).message;
        }
      }
      const summary = {
        repo: snapshot.repo,
        revision: snapshot.revision,
        commit: snapshot.commit,
        snapshotDir: snapshot.snapshotDir,
        files: Object.fromEntries(snapshot.files),
        ...(preprocessing ? { preprocessing } : {}),
      };
      if (options.json) {
        write(`${JSON.stringify(summary, null, 2)}\n`);
        return;
      }
      write(`${snapshot.repo}@${snapshot.revision}: commit ${snapshot.commit}\n`);
      for (const [name, path] of snapshot.files) write(`  ${name} -> ${path}\n`);
      write(`Snapshot ${snapshot.snapshotDir}\n`);
      if (preprocessing) write(`Preprocessing: ${describePreprocessing(preprocessing)}\n`);
      if (preprocessingNote) write(`Preprocessing not read: ${preprocessingNote}\n`);
    });
}
