import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createDownloadProgress } from "../download-progress";
import { type FakeHub, modelsSourceDir as modelsFixtures, startFakeHub } from "../testing/fake-hub";
import { runMedfm } from "../testing/run-medfm";
import { parseRepoReference } from "./models-pull";

const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const weights = new Uint8Array(
  readFileSync(join(modelsFixtures, "__fixtures__/densenet-small.weights.safetensors")),
);
const config = new Uint8Array(
  readFileSync(join(modelsFixtures, "hub/__fixtures__/timm-vit_small_patch16_224.config.json")),
);
const main = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const tagged = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

let hub: FakeHub;
let cacheDir: string;

beforeEach(async () => {
  hub = await startFakeHub([
    {
      id: "timm/vit-test",
      refs: { main, v2: tagged },
      commits: {
        [main]: { "config.json": config, "model.safetensors": weights },
        [tagged]: { "config.json": config, "model.safetensors": weights, "README.md": config },
      },
    },
    {
      id: "org/gated",
      refs: { main },
      commits: { [main]: { "config.json": config } },
      gatedTokens: ["hf_ok"],
    },
  ]);
  cacheDir = mkdtempSync(join(tmpdir(), "medfm-pull-cli-"));
  vi.stubEnv("HF_ENDPOINT", hub.endpoint);
  vi.stubEnv("HF_HUB_CACHE", cacheDir);
  vi.stubEnv("HF_TOKEN", undefined);
  vi.stubEnv("HF_HUB_OFFLINE", undefined);
  vi.stubEnv("HF_TOKEN_PATH", join(cacheDir, "no-token"));
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await hub.close();
});

describe("medfm models pull", () => {
  it("downloads config and weights into the HF_HUB_CACHE and prints the preprocessing", async () => {
    const text = await runMedfm(["models", "pull", "timm/vit-test"]);
    expect(text).toContain(`timm/vit-test@main: commit ${main}`);
    const snapshotDir = join(cacheDir, "models--timm--vit-test", "snapshots", main);
    expect(text).toContain(`model.safetensors -> ${join(snapshotDir, "model.safetensors")}`);
    expect(text).toContain(`Snapshot ${snapshotDir}`);
    expect(text).toContain(
      "Preprocessing: mean [0.5, 0.5, 0.5], std [0.5, 0.5, 0.5], input 224, bicubic, crop 0.9",
    );
    expect(sha256Hex(readFileSync(join(snapshotDir, "model.safetensors")))).toBe(
      sha256Hex(weights),
    );
  });

  it("takes REPO@REVISION and --file, and prints JSON", async () => {
    const summary = JSON.parse(
      await runMedfm(["models", "pull", "timm/vit-test@v2", "--file", "README.md", "--json"]),
    );
    expect(summary).toMatchObject({ repo: "timm/vit-test", revision: "v2", commit: tagged });
    expect(Object.keys(summary.files)).toEqual(["README.md"]);
    expect(readFileSync(summary.files["README.md"])).toEqual(Buffer.from(config));
  });

  it("works offline from the cache and says what to do for a gated repository", async () => {
    await runMedfm(["models", "pull", "timm/vit-test"]);
    await hub.close();
    const summary = JSON.parse(
      await runMedfm(["models", "pull", "timm/vit-test", "--offline", "--json"]),
    );
    expect(summary.commit).toBe(main);
    hub = await startFakeHub([
      {
        id: "org/gated",
        refs: { main },
        commits: { [main]: { "config.json": config } },
        gatedTokens: ["hf_ok"],
      },
    ]);
    vi.stubEnv("HF_ENDPOINT", hub.endpoint);
    await expect(runMedfm(["models", "pull", "org/gated"])).rejects.toThrow(
      /org\/gated@main file config\.json: .*gated.*HF_TOKEN/,
    );
    vi.stubEnv("HF_TOKEN", "hf_ok");
    await expect(
      runMedfm(["models", "pull", "org/gated", "--file", "config.json"]),
    ).resolves.toContain("config.json ->");
  });
});

describe("parseRepoReference", () => {
  it("splits at the first @ and keeps slashes in the revision", () => {
    expect(parseRepoReference("microsoft/rad-dino")).toEqual({
      repo: "microsoft/rad-dino",
      revision: "main",
    });
    expect(parseRepoReference("org/name@refs/pr/1")).toEqual({
      repo: "org/name",
      revision: "refs/pr/1",
    });
    expect(() => parseRepoReference("org/name@")).toThrow(/REPO\[@REVISION\]/);
  });
});

describe("createDownloadProgress", () => {
  it("prints one line per finished file when not on a terminal", () => {
    let written = "";
    const stream = {
      write: (text: string) => {
        written += text;
        return true;
      },
      isTTY: false,
    };
    const progress = createDownloadProgress({ stream: stream as never });
    const event = { repo: "r", filename: "model.safetensors", total: 2_500_000 };
    progress.onProgress({ ...event, loaded: 1_000_000, status: "downloading" });
    progress.onProgress({ ...event, loaded: 2_500_000, status: "done" });
    progress.onProgress({
      ...event,
      filename: "config.json",
      loaded: 812,
      total: 812,
      status: "cached",
    });
    expect(written).toBe("model.safetensors: downloaded 2.5 MB\nconfig.json: cached 812 B\n");
  });
});
