import {
  type ClassifierArtifacts,
  ClassifierFileError,
  type ClassifierIOHandler,
  joinWeightFiles,
  parseClassifierModelJson,
  weightPaths,
} from "./classifier-artifacts";

/** Options of {@link httpClassifier}. */
export interface HttpClassifierOptions {
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: (url: string) => Promise<{
    ok: boolean;
    status: number;
    statusText: string;
    text(): Promise<string>;
    arrayBuffer(): Promise<ArrayBuffer>;
  }>;
  /** Base URL that a relative `url` is resolved against (default: the page's location). */
  baseUrl?: string;
}

/**
 * Reads a saved classifier over HTTP: `url` is its `model.json` (or the folder holding it,
 * ending in `/`); the weight files are fetched relative to it, as tfjs's `tf.io.http` does.
 * Errors name the URL and the HTTP status.
 */
export function httpClassifier(
  url: string,
  options: HttpClassifierOptions = {},
): ClassifierIOHandler {
  const fetchUrl = options.fetch ?? ((target: string) => globalThis.fetch(target));
  const base =
    options.baseUrl ??
    (globalThis as { location?: { href: string } }).location?.href ??
    "http://localhost/";
  const modelUrl = new URL(url.endsWith("/") ? `${url}model.json` : url, base).href;
  const get = async (target: string) => {
    let response: Awaited<ReturnType<NonNullable<HttpClassifierOptions["fetch"]>>>;
    try {
      response = await fetchUrl(target);
    } catch (error) {
      throw new ClassifierFileError(target, `cannot fetch (${(error as Error).message})`, {
        cause: error,
      });
    }
    if (!response.ok) {
      throw new ClassifierFileError(target, `HTTP ${response.status} ${response.statusText}`);
    }
    return response;
  };
  return {
    async load(): Promise<ClassifierArtifacts> {
      const modelJson = parseClassifierModelJson(modelUrl, await (await get(modelUrl)).text());
      const buffers = await Promise.all(
        weightPaths(modelJson).map(async (path) =>
          (await get(new URL(path, modelUrl).href)).arrayBuffer(),
        ),
      );
      return { modelJson, weightData: joinWeightFiles(buffers), source: modelUrl };
    },
  };
}
