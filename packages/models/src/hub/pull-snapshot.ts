import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type DownloadHubFileOptions, downloadHubFile } from "./download-file";
import { hubRepoCache, isKnownMissing } from "./hub-cache";
import { hubSettings, resolveUrl, validateRelativePath } from "./hub-endpoint";
import { EntryNotFoundError, HubFormatError, HubOfflineError } from "./hub-errors";

/** The single-file weights name transformers and timm publish. */
export const SAFETENSORS_WEIGHTS_NAME = "model.safetensors";
/** The index of sharded weights (`weight_map`: tensor name to shard file). */
export const SAFETENSORS_INDEX_NAME = "model.safetensors.index.json";
/** The model configuration (timm keeps its `pretrained_cfg` in it). */
export const CONFIG_NAME = "config.json";
/** transformers' image processor configuration (mean, std, size, resample, crop). */
export const PREPROCESSOR_CONFIG_NAME = "preprocessor_config.json";

/** Options of {@link pullSnapshot}. */
export interface PullSnapshotOptions extends DownloadHubFileOptions {
  /**
   * Files to fetch, all required. Default: `config.json`, `model.safetensors` (or, when the
   * repository has none, `model.safetensors.index.json` and every shard it names) and, when
   * present, `preprocessor_config.json`.
   */
  files?: readonly string[];
}

/** A revision of a repository, present in the cache. */
export interface HubSnapshot {
  /** The repository id. */
  repo: string;
  /** The revision asked for. */
  revision: string;
  /** The commit it resolved to. */
  commit: string;
  /** `snapshots/<commit>/` in the cache. */
  snapshotDir: string;
  /** The fetched files: repository file name to its path in the snapshot. */
  files: Map<string, string>;
}

/** The weights of a snapshot, as {@link resolveWeightFiles} finds them. */
export interface HubWeightFiles {
  /** `single` for `model.safetensors`, `sharded` for an index and its shards. */
  kind: "single" | "sharded";
  /** The safetensors files to read, in order (shards sorted by name). */
  files: string[];
  /** For sharded weights: tensor name to the path of the shard holding it. */
  weightMap?: Map<string, string>;
}

/** The shard file names of a `model.safetensors.index.json`, checked. */
function shardNames(
  location: { repo: string; revision: string; filename: string },
  text: string,
): { weightMap: Map<string, string>; shards: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new HubFormatError(location, `not valid JSON (${(error as Error).message})`);
  }
  const weightMap = (parsed as { weight_map?: unknown })?.weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw new HubFormatError(location, "has no weight_map object (tensor name to shard file)");
  }
  const map = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string") {
      throw new HubFormatError(
        location,
        `weight_map[${JSON.stringify(tensor)}] is ${JSON.stringify(shard)}, not a file name`,
      );
    }
    try {
      validateRelativePath("file name", shard);
    } catch (error) {
      throw new HubFormatError(
        location,
        `weight_map[${JSON.stringify(tensor)}]: ${(error as Error).message}`,
      );
    }
    map.set(tensor, shard);
  }
  if (map.size === 0) throw new HubFormatError(location, "weight_map is empty");
  return { weightMap: map, shards: [...new Set(map.values())].sort() };
}

/**
 * Downloads a model's files from the Hugging Face hub into huggingface_hub's cache (or finds
 * them there) and returns the snapshot. The revision is resolved to a commit by the first
 * file and every other file is fetched at that commit, so a branch moving during the pull
 * cannot mix two versions. Environment and options as {@link downloadHubFile}.
 *
 * This is the seam `fromPretrained(repo)` builds on: read the snapshot with
 * {@link readHubConfig} and {@link resolveWeightFiles}, then construct the backbone.
 * @throws the hub errors of {@link downloadHubFile}; HubFormatError for a malformed index.
 */
export async function pullSnapshot(
  repo: string,
  options: PullSnapshotOptions = {},
): Promise<HubSnapshot> {
  const revision = options.revision ?? "main";
  const files = new Map<string, string>();
  let commit: string | undefined;
  const fetch = async (filename: string) => {
    const file = await downloadHubFile(repo, filename, {
      ...options,
      revision: commit ?? revision,
    });
    commit ??= file.commit;
    files.set(filename, file.path);
    return file;
  };
  /** Fetches a file the repository may lack; false when the hub or the cache says it is absent. */
  const fetchOptional = async (filename: string): Promise<boolean> => {
    const settings = hubSettings(options);
    if (
      commit !== undefined &&
      isKnownMissing(hubRepoCache(settings.cacheDir, repo), commit, filename)
    ) {
      return false;
    }
    try {
      await fetch(filename);
      return true;
    } catch (error) {
      if (error instanceof EntryNotFoundError) return false;
      if (error instanceof HubOfflineError && commit !== undefined) return false;
      throw error;
    }
  };

  if (options.files !== undefined) {
    if (options.files.length === 0) throw new Error("pullSnapshot: files is empty");
    for (const filename of options.files) await fetch(filename);
  } else {
    await fetch(CONFIG_NAME);
    if (!(await fetchOptional(SAFETENSORS_WEIGHTS_NAME))) {
      if (!(await fetchOptional(SAFETENSORS_INDEX_NAME))) {
        const settings = hubSettings(options);
        const where = { repo, revision, filename: SAFETENSORS_WEIGHTS_NAME };
        if (settings.offline) {
          throw new HubOfflineError(
            where,
            settings.cacheDir,
            `neither ${SAFETENSORS_WEIGHTS_NAME} nor ${SAFETENSORS_INDEX_NAME} is`,
          );
        }
        throw new EntryNotFoundError(
          where,
          `${resolveUrl(settings.endpoint, repo, commit ?? revision, SAFETENSORS_WEIGHTS_NAME)} (nor ${SAFETENSORS_INDEX_NAME})`,
          404,
          commit,
        );
      }
      const indexPath = files.get(SAFETENSORS_INDEX_NAME) as string;
      const { shards } = shardNames(
        { repo, revision, filename: SAFETENSORS_INDEX_NAME },
        await readFile(indexPath, "utf8"),
      );
      for (const shard of shards) await fetch(shard);
    }
    await fetchOptional(PREPROCESSOR_CONFIG_NAME);
  }
  const resolved = commit as string;
  const settings = hubSettings(options);
  return {
    repo,
    revision,
    commit: resolved,
    snapshotDir: hubRepoCache(settings.cacheDir, repo).snapshotDir(resolved),
    files,
  };
}

/**
 * Finds a snapshot's safetensors weights: `model.safetensors`, else
 * `model.safetensors.index.json` and the shards its `weight_map` names (all must be present).
 * Files are looked up in `snapshot.files`, then in the snapshot folder.
 * @throws HubFormatError naming the repository and what is missing.
 */
export async function resolveWeightFiles(snapshot: HubSnapshot): Promise<HubWeightFiles> {
  const pathOf = (filename: string): string | undefined => {
    const known = snapshot.files.get(filename);
    if (known !== undefined) return known;
    const onDisk = join(snapshot.snapshotDir, filename);
    return existsSync(onDisk) ? onDisk : undefined;
  };
  const location = { repo: snapshot.repo, revision: snapshot.revision };
  const single = pathOf(SAFETENSORS_WEIGHTS_NAME);
  if (single !== undefined) return { kind: "single", files: [single] };
  const index = pathOf(SAFETENSORS_INDEX_NAME);
  if (index === undefined) {
    throw new HubFormatError(
      location,
      `the snapshot ${snapshot.snapshotDir} has neither ${SAFETENSORS_WEIGHTS_NAME} nor ${SAFETENSORS_INDEX_NAME}; only safetensors weights are read (convert a pytorch_model.bin with safetensors' convert script)`,
    );
  }
  const indexLocation = { ...location, filename: SAFETENSORS_INDEX_NAME };
  const { weightMap, shards } = shardNames(indexLocation, await readFile(index, "utf8"));
  const paths = new Map<string, string>();
  for (const shard of shards) {
    const path = pathOf(shard);
    if (path === undefined) {
      throw new HubFormatError(
        indexLocation,
        `shard ${shard} named in weight_map is not in the snapshot ${snapshot.snapshotDir}; pull the repository again`,
      );
    }
    paths.set(shard, path);
  }
  const tensorPaths = new Map(
    [...weightMap].map(([tensor, shard]) => [tensor, paths.get(shard) as string]),
  );
  return { kind: "sharded", files: [...paths.values()], weightMap: tensorPaths };
}
