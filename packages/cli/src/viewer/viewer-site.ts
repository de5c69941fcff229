import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { buildModelCard, type ModelCard } from "./model-card";
import type { ViewerSource } from "./resolve-viewer-source";

/** One file of the viewer site: its URL path (`/index.html`, `/model/model.json`) and bytes. */
export interface SiteFile {
  /** Path under the site root, starting with `/`. */
  path: string;
  /** The file's bytes. */
  data: Uint8Array;
}

/**
 * The built viewer's folder: `MEDFM_VIEWER_DIR`, else `viewer/` beside the bundled CLI
 * (`dist/viewer`), else the package's `dist/viewer` when running from sources.
 */
export function viewerDirectory(env: Record<string, string | undefined> = process.env): string {
  const candidates = [
    env.MEDFM_VIEWER_DIR,
    fileURLToPath(new URL("./viewer/", import.meta.url)),
    fileURLToPath(new URL("../../dist/viewer/", import.meta.url)),
  ].filter((candidate): candidate is string => candidate !== undefined);
  const found = candidates.find((candidate) => existsSync(join(candidate, "index.html")));
  if (!found) {
    throw new Error(
      `the model viewer is not built (no index.html in ${candidates.join(" or ")}): run \`pnpm --filter @medfm/cli build\``,
    );
  }
  return found;
}

async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/**
 * Every file of the viewer site for a model: the built viewer, and under `/model/` the model's
 * `model.json`, the weight files its manifest names and `card.json` (the {@link ModelCard}).
 */
export async function viewerSite(
  source: ViewerSource,
  options: { viewerDir?: string; imageSize?: number } = {},
): Promise<{ files: SiteFile[]; card: ModelCard }> {
  const viewerDir = options.viewerDir ?? viewerDirectory();
  const files: SiteFile[] = [];
  for (const file of await filesUnder(viewerDir)) {
    files.push({
      path: `/${relative(viewerDir, file).split(sep).join("/")}`,
      data: await readFile(file),
    });
  }
  const modelJsonPath = join(source.modelDirectory, "model.json");
  const modelJsonText = await readFile(modelJsonPath);
  const modelJson = JSON.parse(modelJsonText.toString("utf8")) as {
    weightsManifest?: Array<{ paths: string[] }>;
  };
  files.push({ path: "/model/model.json", data: modelJsonText });
  for (const weights of (modelJson.weightsManifest ?? []).flatMap((group) => group.paths)) {
    if (weights.includes("..") || weights.startsWith("/")) {
      throw new Error(
        `${modelJsonPath}: weights path ${JSON.stringify(weights)} leaves the model directory`,
      );
    }
    files.push({
      path: `/model/${weights}`,
      data: await readFile(join(source.modelDirectory, weights)),
    });
  }
  const card = await buildModelCard(source.modelDirectory, source.run, options);
  files.push({
    path: "/model/card.json",
    data: new TextEncoder().encode(`${JSON.stringify(card, null, 2)}\n`),
  });
  return { files, card };
}

/** Writes the site's files under `directory` (what `medfm export-web` does). */
export async function writeSite(files: readonly SiteFile[], directory: string): Promise<void> {
  for (const file of files) {
    const target = join(directory, ...file.path.split("/").filter(Boolean));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.data);
  }
}
