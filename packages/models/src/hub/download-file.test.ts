import { spawnSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type FakeHub, sha256Hex, startFakeHub } from "./__fixtures__/fake-hub";
import { downloadHubFile, type HubProgressEvent } from "./download-file";
import {
  EntryNotFoundError,
  GatedRepoError,
  HubConnectionError,
  HubError,
  HubIntegrityError,
  HubOfflineError,
  RepoNotFoundError,
  RevisionNotFoundError,
} from "./hub-errors";

const weights = new Uint8Array(
  readFileSync(
    fileURLToPath(new URL("../__fixtures__/densenet-small.weights.safetensors", import.meta.url)),
  ),
);
const weightsSha = sha256Hex(weights);
const config = new Uint8Array(
  readFileSync(
    fileURLToPath(
      new URL("./__fixtures__/timm-vit_small_patch16_224.config.json", import.meta.url),
    ),
  ),
);
const commit = "0123456789abcdef0123456789abcdef01234567";
const repo = "medfm-test/densenet-small";

let hub: FakeHub;
let cacheDir: string;

beforeEach(async () => {
  hub = await startFakeHub([
    {
      id: repo,
      refs: { main: commit },
      commits: { [commit]: { "config.json": config, "model.safetensors": weights } },
    },
    {
      id: "medfm-test/gated",
      refs: { main: commit },
      commits: { [commit]: { "config.json": config } },
      gatedTokens: ["hf_accepted"],
    },
  ]);
  cacheDir = mkdtempSync(join(tmpdir(), "medfm-hub-cache-"));
});

afterEach(async () => {
  await hub.close();
});

const storage = () => join(cacheDir, "models--medfm-test--densenet-small");

describe("downloadHubFile", () => {
  it("lays files out as huggingface_hub does: blobs by ETag, relative snapshot symlinks, refs", async () => {
    const file = await downloadHubFile(repo, "model.safetensors", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
    });
    const pointer = join(storage(), "snapshots", commit, "model.safetensors");
    expect(file).toMatchObject({ commit, path: pointer, fromCache: false, revision: "main" });
    expect(lstatSync(pointer).isSymbolicLink()).toBe(true);
    expect(readlinkSync(pointer)).toBe(`../../blobs/${weightsSha}`);
    expect(sha256Hex(readFileSync(pointer))).toBe(weightsSha);
    expect(readFileSync(join(storage(), "refs", "main"), "utf8")).toBe(commit);

    // A plain (non-LFS) file is named by its git blob ETag.
    const configFile = await downloadHubFile(repo, "config.json", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
    });
    expect(readFileSync(configFile.path)).toEqual(Buffer.from(config));
    expect(readlinkSync(configFile.path)).toMatch(/^\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/);
  });

  it("follows the LFS redirect to the CDN without forwarding the Authorization header", async () => {
    await downloadHubFile(repo, "model.safetensors", {
      endpoint: hub.endpoint,
      cacheDir,
      token: "hf_secret",
    });
    const toHub = hub.requests.filter((request) => request.server === "hub");
    const toCdn = hub.requests.filter((request) => request.server === "cdn");
    expect(toHub.length).toBeGreaterThan(0);
    expect(toHub.every((request) => request.headers.authorization === "Bearer hf_secret")).toBe(
      true,
    );
    expect(toCdn.map((request) => request.method)).toEqual(["GET"]);
    expect(toCdn[0]?.headers.authorization).toBeUndefined();
    expect(toCdn[0]?.url).toContain("X-Amz-Signature=fake");
  });

  it("reuses the cache: a second call only asks for metadata, a commit-hash revision asks nothing", async () => {
    const options = { endpoint: hub.endpoint, cacheDir, token: false as const };
    await downloadHubFile(repo, "model.safetensors", options);
    hub.requests.length = 0;
    const again = await downloadHubFile(repo, "model.safetensors", options);
    expect(again.fromCache).toBe(true);
    expect(hub.requests.map((request) => `${request.server} ${request.method}`)).toEqual([
      "hub HEAD",
    ]);
    hub.requests.length = 0;
    const pinned = await downloadHubFile(repo, "model.safetensors", {
      ...options,
      revision: commit,
    });
    expect(pinned.path).toBe(again.path);
    expect(hub.requests).toEqual([]);
  });

  it("reports progress up to the file's size, then done", async () => {
    const events: HubProgressEvent[] = [];
    await downloadHubFile(repo, "model.safetensors", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
      onProgress: (event) => events.push({ ...event }),
    });
    const downloading = events.filter((event) => event.status === "downloading");
    expect(downloading.length).toBeGreaterThan(0);
    expect(downloading.every((event) => event.total === weights.length)).toBe(true);
    const loaded = downloading.map((event) => event.loaded);
    expect(loaded).toEqual([...loaded].sort((a, b) => a - b));
    expect(events.at(-1)).toMatchObject({
      status: "done",
      loaded: weights.length,
      total: weights.length,
      filename: "model.safetensors",
    });
  });

  it("resumes an interrupted download with a Range request", async () => {
    const options = { endpoint: hub.endpoint, cacheDir, token: false as const, maxRetries: 0 };
    hub.interruptNext(weightsSha, 50_000);
    const failure = await downloadHubFile(repo, "model.safetensors", options).catch((e) => e);
    expect(HubError.isInstance(failure)).toBe(true);
    expect(failure).toBeInstanceOf(HubConnectionError);
    expect(failure.message).toContain("model.safetensors");
    const incomplete = join(storage(), "blobs", `${weightsSha}.incomplete`);
    const partial = statSync(incomplete).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(weights.length);
    expect(existsSync(join(storage(), "blobs", weightsSha))).toBe(false);

    hub.requests.length = 0;
    const file = await downloadHubFile(repo, "model.safetensors", options);
    const cdnGets = hub.requests.filter((request) => request.server === "cdn");
    expect(cdnGets).toHaveLength(1);
    expect(cdnGets[0]?.headers.range).toBe(`bytes=${partial}-`);
    expect(sha256Hex(readFileSync(file.path))).toBe(weightsSha);
    expect(existsSync(incomplete)).toBe(false);
  });

  it("retries an interrupted download within one call, resuming where it stopped", async () => {
    hub.interruptNext(weightsSha, 30_000);
    const file = await downloadHubFile(repo, "model.safetensors", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
      maxRetries: 1,
      retryDelayMs: 1,
    });
    const cdnGets = hub.requests.filter((request) => request.server === "cdn");
    expect(cdnGets).toHaveLength(2);
    expect(cdnGets[0]?.headers.range).toBeUndefined();
    expect(cdnGets[1]?.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(sha256Hex(readFileSync(file.path))).toBe(weightsSha);
  });

  it("downloads a blob once when two pulls race, the second waiting for the first's lock", async () => {
    const options = { endpoint: hub.endpoint, cacheDir, token: false as const };
    const [first, second] = await Promise.all([
      downloadHubFile(repo, "model.safetensors", options),
      downloadHubFile(repo, "model.safetensors", options),
    ]);
    expect(first.path).toBe(second.path);
    expect([first.fromCache, second.fromCache].sort()).toEqual([false, true]);
    expect(hub.requests.filter((request) => request.server === "cdn")).toHaveLength(1);
    expect(sha256Hex(readFileSync(first.path))).toBe(weightsSha);
  });

  it("waits while a live process holds the blob's lock and takes over the lock of a dead one", async () => {
    const options = { endpoint: hub.endpoint, cacheDir, token: false as const };
    const locks = join(cacheDir, ".locks", "models--medfm-test--densenet-small");
    const lock = join(locks, `${weightsSha}.medfm.lock`);
    mkdirSync(locks, { recursive: true });
    writeFileSync(lock, String(process.pid));
    const pending = downloadHubFile(repo, "model.safetensors", options);
    while (!hub.requests.some((request) => request.method === "HEAD")) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(hub.requests.filter((request) => request.server === "cdn")).toHaveLength(0);
    rmSync(lock);
    expect(sha256Hex(readFileSync((await pending).path))).toBe(weightsSha);
    expect(existsSync(lock)).toBe(false);

    // A lock left by a process that no longer runs does not block.
    const dead = spawnSync(process.execPath, ["-e", ""]).pid as number;
    writeFileSync(lock, String(dead));
    rmSync(join(storage(), "blobs", weightsSha));
    const file = await downloadHubFile(repo, "model.safetensors", options);
    expect(file.fromCache).toBe(false);
    expect(existsSync(lock)).toBe(false);
  });

  it("deletes a download whose sha256 does not match the LFS ETag and names both hashes", async () => {
    hub.corrupt(weightsSha);
    const failure = await downloadHubFile(repo, "model.safetensors", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(HubIntegrityError);
    expect(failure.message).toContain(`${repo}@main file model.safetensors`);
    expect(failure.message).toContain(weightsSha);
    expect(failure.actual).toMatch(/^[0-9a-f]{64}$/);
    expect(failure.actual).not.toBe(weightsSha);
    expect(failure.message).toContain(failure.actual);
    expect(existsSync(join(storage(), "blobs", weightsSha))).toBe(false);
    expect(existsSync(join(storage(), "blobs", `${weightsSha}.incomplete`))).toBe(false);
    expect(existsSync(join(storage(), "snapshots", commit, "model.safetensors"))).toBe(false);
  });

  it("explains a gated repository (401, X-Error-Code: GatedRepo) and succeeds with an accepted token", async () => {
    const failure = await downloadHubFile("medfm-test/gated", "config.json", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(GatedRepoError);
    expect(failure.status).toBe(401);
    expect(failure.message).toContain("medfm-test/gated@main file config.json");
    expect(failure.message).toContain("HF_TOKEN");
    expect(failure.message).toContain(`Accept its licence on ${hub.endpoint}/medfm-test/gated`);
    const file = await downloadHubFile("medfm-test/gated", "config.json", {
      endpoint: hub.endpoint,
      cacheDir,
      token: "hf_accepted",
    });
    expect(readFileSync(file.path)).toEqual(Buffer.from(config));
  });

  it("reads HF_TOKEN and HF_ENDPOINT from the environment", async () => {
    vi.stubEnv("HF_ENDPOINT", `${hub.endpoint}/`);
    vi.stubEnv("HF_TOKEN", "hf_accepted");
    vi.stubEnv("HF_HUB_CACHE", cacheDir);
    try {
      const file = await downloadHubFile("medfm-test/gated", "config.json");
      expect(file.path.startsWith(cacheDir)).toBe(true);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("names repo, revision and file of a missing file (404 EntryNotFound) and remembers the absence", async () => {
    const failure = await downloadHubFile(repo, "pytorch_model.bin", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(EntryNotFoundError);
    expect(failure.status).toBe(404);
    expect(failure.message).toContain(`${repo}@main file pytorch_model.bin`);
    expect(failure.message).toContain(`${hub.endpoint}/${repo}/resolve/main/pytorch_model.bin`);
    expect(existsSync(join(storage(), ".no_exist", commit, "pytorch_model.bin"))).toBe(true);
  });

  it("tells a missing revision from a missing repository", async () => {
    const options = { endpoint: hub.endpoint, cacheDir, token: false as const };
    const revision = await downloadHubFile(repo, "config.json", {
      ...options,
      revision: "v9",
    }).catch((e) => e);
    expect(revision).toBeInstanceOf(RevisionNotFoundError);
    expect(revision.message).toContain(`${repo}@v9 file config.json`);
    const missing = await downloadHubFile("medfm-test/nothing", "config.json", options).catch(
      (e) => e,
    );
    expect(missing).toBeInstanceOf(RepoNotFoundError);
    expect(missing.message).toContain("set HF_TOKEN");
  });

  it("refuses ids and names that could leave the cache folder", async () => {
    const options = { endpoint: hub.endpoint, cacheDir, token: false as const };
    await expect(downloadHubFile("../etc", "config.json", options)).rejects.toThrow(
      /invalid repository id "\.\.\/etc"/,
    );
    await expect(downloadHubFile(repo, "../../x", options)).rejects.toThrow(
      /invalid file name "\.\.\/\.\.\/x"/,
    );
    expect(hub.requests).toEqual([]);
  });

  it("offline, reads the cache only and names what is missing", async () => {
    await downloadHubFile(repo, "config.json", { endpoint: hub.endpoint, cacheDir, token: false });
    await hub.close();
    const file = await downloadHubFile(repo, "config.json", { cacheDir, offline: true });
    expect(file.fromCache).toBe(true);
    expect(file.commit).toBe(commit);
    const failure = await downloadHubFile(repo, "model.safetensors", {
      cacheDir,
      offline: true,
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(HubOfflineError);
    expect(failure.message).toContain(`${repo}@main file model.safetensors`);
    expect(failure.message).toContain("HF_HUB_OFFLINE");
    const otherRepo = await downloadHubFile("medfm-test/other", "config.json", {
      cacheDir,
      offline: true,
    }).catch((e) => e);
    expect(otherRepo.message).toContain("revision main is not in the cache");
    hub = await startFakeHub([]);
  });

  it("falls back to the cached revision when the hub cannot be reached", async () => {
    await downloadHubFile(repo, "config.json", { endpoint: hub.endpoint, cacheDir, token: false });
    const endpoint = hub.endpoint;
    await hub.close();
    const file = await downloadHubFile(repo, "config.json", { endpoint, cacheDir, token: false });
    expect(file).toMatchObject({ commit, fromCache: true });
    const failure = await downloadHubFile(repo, "model.safetensors", {
      endpoint,
      cacheDir,
      token: false,
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(HubConnectionError);
    expect(failure.message).toContain("ECONNREFUSED");
    hub = await startFakeHub([]);
  });
});
