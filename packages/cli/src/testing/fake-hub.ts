import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** `packages/models/src/`: the fixtures of @medfm/models' tests the CLI's tests reuse. */
export const modelsSourceDir: string = fileURLToPath(
  new URL("../../../models/src/", import.meta.url),
);

/** A running fake hub of @medfm/models' tests (`hub/__fixtures__/fake-hub.ts`). */
export interface FakeHub {
  /** `http://127.0.0.1:PORT`, for `HF_ENDPOINT`. */
  endpoint: string;
  /** Stops the hub and its CDN. */
  close(): Promise<void>;
}

/** A repository the fake hub serves: refs to commits, files per commit. */
export interface FakeRepo {
  id: string;
  refs: Record<string, string>;
  commits: Record<string, Record<string, Uint8Array>>;
  gatedTokens?: string[];
}

/**
 * Starts the fake hub of @medfm/models' tests. It lies outside this package's rootDir, so it is
 * imported by URL at run time and typed here.
 */
export async function startFakeHub(repos: FakeRepo[]): Promise<FakeHub> {
  const url = pathToFileURL(join(modelsSourceDir, "hub/__fixtures__/fake-hub.ts")).href;
  const module = (await import(url)) as { startFakeHub(repos: FakeRepo[]): Promise<FakeHub> };
  return module.startFakeHub(repos);
}
