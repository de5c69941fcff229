import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeSafetensors, readSafetensors } from "../weights/safetensors";
import { type FakeHub, sha256Hex, startFakeHub } from "./__fixtures__/fake-hub";
import { EntryNotFoundError, HubOfflineError } from "./hub-errors";
import { readHubConfig } from "./hub-preprocessing";
import { pullSnapshot, resolveWeightFiles } from "./pull-snapshot";

const fixtures = fileURLToPath(new URL("./__fixtures__/", import.meta.url));
const weightsFile = fileURLToPath(
  new URL("../__fixtures__/densenet-small.weights.safetensors", import.meta.url),
);
const weights = new Uint8Array(readFileSync(weightsFile));
const timmConfig = new Uint8Array(
  readFileSync(join(fixtures, "timm-vit_small_patch16_224.config.json")),
);
const dinoProcessor = new Uint8Array(
  readFileSync(join(fixtures, "transformers-dinov2-small.preprocessor_config.json")),
);
const bareConfig = new TextEncoder().encode('{"model_type": "dinov2"}\n');
const commit = "1111111111111111111111111111111111111111";
const v1Commit = "2222222222222222222222222222222222222222";
const shardedCommit = "3333333333333333333333333333333333333333";

/** The densenet fixture split into two shards plus the index transformers writes. */
async function shardedFiles(): Promise<Record<string, Uint8Array>> {
  const source = await readSafetensors(weightsFile);
  const names = [...source.tensors.keys()];
  const half = Math.ceil(names.length / 2);
  const shardNames = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
  const files: Record<string, Uint8Array> = {};
  const weightMap: Record<string, string> = {};
  shardNames.forEach((shardName, shard) => {
    const tensors = new Map();
    for (const name of names.slice(shard * half, (shard + 1) * half)) {
      const tensor = source.tensors.get(name);
      if (tensor === undefined) throw new Error(name);
      tensors.set(name, {
        dtype: tensor.dtype === "F32" ? "F32" : "I64",
        shape: tensor.shape,
        values: tensor.values,
      });
      weightMap[name] = shardName;
    }
    files[shardName] = encodeSafetensors(tensors);
  });
  files["model.safetensors.index.json"] = new TextEncoder().encode(
    JSON.stringify({ metadata: { total_size: weights.length }, weight_map: weightMap }),
  );
  files["config.json"] = bareConfig;
  files["preprocessor_config.json"] = dinoProcessor;
  return files;
}

let hub: FakeHub;
let cacheDir: string;

beforeEach(async () => {
  hub = await startFakeHub([
    {
      id: "timm/vit-tiny-test",
      refs: { main: commit, v1: v1Commit },
      commits: {
        [commit]: { "config.json": timmConfig, "model.safetensors": weights },
        [v1Commit]: { "config.json": bareConfig, "model.safetensors": weights.subarray(0, 8) },
      },
    },
    {
      id: "medfm-test/sharded",
      refs: { main: shardedCommit },
      commits: { [shardedCommit]: await shardedFiles() },
    },
    {
      id: "medfm-test/no-weights",
      refs: { main: commit },
      commits: { [commit]: { "config.json": bareConfig } },
    },
  ]);
  cacheDir = mkdtempSync(join(tmpdir(), "medfm-hub-snapshot-"));
});

afterEach(async () => {
  await hub.close();
});

describe("pullSnapshot", () => {
  it("fetches config.json and model.safetensors, skips an absent preprocessor_config.json", async () => {
    const snapshot = await pullSnapshot("timm/vit-tiny-test", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
    });
    expect(snapshot).toMatchObject({ repo: "timm/vit-tiny-test", revision: "main", commit });
    expect(snapshot.snapshotDir).toBe(
      join(cacheDir, "models--timm--vit-tiny-test", "snapshots", commit),
    );
    expect([...snapshot.files.keys()]).toEqual(["config.json", "model.safetensors"]);
    const weightFiles = await resolveWeightFiles(snapshot);
    expect(weightFiles.kind).toBe("single");
    expect(sha256Hex(readFileSync(weightFiles.files[0] as string))).toBe(sha256Hex(weights));
    const hubConfig = await readHubConfig(snapshot);
    expect(hubConfig.config.architecture).toBe("vit_small_patch16_224");
    expect(hubConfig.preprocessingSource).toBe("pretrained_cfg");
    expect(hubConfig.preprocessing).toEqual({
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      inputSize: 224,
      interpolation: "bicubic",
      crop: 0.9,
      cropMode: "center",
      cropConvention: "torchvision",
    });
  });

  it("pins every file to the commit the revision resolved to, and records the ref", async () => {
    const snapshot = await pullSnapshot("timm/vit-tiny-test", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
      revision: "v1",
      files: ["config.json", "model.safetensors"],
    });
    expect(snapshot.commit).toBe(v1Commit);
    const requested = hub.requests.filter((request) => request.server === "hub").map((r) => r.url);
    expect(requested[0]).toBe("/timm/vit-tiny-test/resolve/v1/config.json");
    expect(requested.slice(1).every((url) => url.includes(`/resolve/${v1Commit}/`))).toBe(true);
    expect(readFileSync(join(cacheDir, "models--timm--vit-tiny-test", "refs", "v1"), "utf8")).toBe(
      v1Commit,
    );
    expect(readFileSync(snapshot.files.get("model.safetensors") as string)).toHaveLength(8);
  });

  it("fetches sharded weights through the index and reads back every tensor", async () => {
    const snapshot = await pullSnapshot("medfm-test/sharded", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
    });
    expect([...snapshot.files.keys()]).toEqual([
      "config.json",
      "model.safetensors.index.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
      "preprocessor_config.json",
    ]);
    const weightFiles = await resolveWeightFiles(snapshot);
    expect(weightFiles.kind).toBe("sharded");
    expect(weightFiles.files).toHaveLength(2);
    const original = await readSafetensors(weightsFile);
    const merged = new Map();
    for (const file of weightFiles.files) {
      for (const [name, tensor] of (await readSafetensors(file)).tensors) merged.set(name, tensor);
    }
    expect([...merged.keys()].sort()).toEqual([...original.tensors.keys()].sort());
    for (const [name, tensor] of original.tensors) {
      expect(merged.get(name).values).toEqual(tensor.values);
      expect(weightFiles.weightMap?.get(name)).toMatch(/model-0000[12]-of-00002\.safetensors$/);
    }
    const hubConfig = await readHubConfig(snapshot);
    expect(hubConfig.preprocessingSource).toBe("preprocessor_config.json");
    expect(hubConfig.preprocessing).toMatchObject({ inputSize: 224, crop: 224 / 256 });
  });

  it("names the repository when it has neither model.safetensors nor an index", async () => {
    const failure = await pullSnapshot("medfm-test/no-weights", {
      endpoint: hub.endpoint,
      cacheDir,
      token: false,
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(EntryNotFoundError);
    expect(failure.message).toContain("medfm-test/no-weights@main file model.safetensors");
    expect(failure.message).toContain("model.safetensors.index.json");
  });

  it("offline, serves a pulled snapshot from the cache, optional files included", async () => {
    await pullSnapshot("medfm-test/sharded", { endpoint: hub.endpoint, cacheDir, token: false });
    await hub.close();
    const snapshot = await pullSnapshot("medfm-test/sharded", { cacheDir, offline: true });
    expect(snapshot.commit).toBe(shardedCommit);
    expect(snapshot.files.size).toBe(5);
    expect((await resolveWeightFiles(snapshot)).kind).toBe("sharded");
    const failure = await pullSnapshot("medfm-test/sharded", {
      cacheDir,
      offline: true,
      revision: "v2",
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(HubOfflineError);
    expect(failure.message).toContain("medfm-test/sharded@v2 file config.json");
    hub = await startFakeHub([]);
  });

  it("reads, offline, a cache laid out by hand the way huggingface_hub writes it", async () => {
    // models--org--name/{blobs/<sha256>, snapshots/<commit>/<file> -> ../../blobs/<sha256>, refs/main}
    const storage = join(cacheDir, "models--microsoft--rad-dino-test");
    const written = {
      "config.json": bareConfig,
      "preprocessor_config.json": dinoProcessor,
      "model.safetensors": weights,
    };
    mkdirSync(join(storage, "blobs"), { recursive: true });
    mkdirSync(join(storage, "snapshots", commit), { recursive: true });
    mkdirSync(join(storage, "refs"), { recursive: true });
    for (const [name, bytes] of Object.entries(written)) {
      const etag = sha256Hex(bytes);
      writeFileSync(join(storage, "blobs", etag), bytes);
      symlinkSync(`../../blobs/${etag}`, join(storage, "snapshots", commit, name));
    }
    writeFileSync(join(storage, "refs", "main"), commit);
    await hub.close();
    const snapshot = await pullSnapshot("microsoft/rad-dino-test", { cacheDir, offline: true });
    expect(snapshot.commit).toBe(commit);
    expect([...snapshot.files.keys()].sort()).toEqual(Object.keys(written).sort());
    expect(sha256Hex(readFileSync((await resolveWeightFiles(snapshot)).files[0] as string))).toBe(
      sha256Hex(weights),
    );
    expect((await readHubConfig(snapshot)).preprocessing?.interpolation).toBe("bicubic");
    hub = await startFakeHub([]);
  });
});

/**
 * A Python with huggingface_hub for the cross-checks: MEDFM_TEST_HF_PYTHON, else the venv
 * scripts/hub/install.sh makes (.venv-hub), else python3.
 */
function findHubPython(): { python?: string; reason: string } {
  const venv = fileURLToPath(new URL("../../../../.venv-hub/bin/python", import.meta.url));
  const candidates = [process.env.MEDFM_TEST_HF_PYTHON, venv, "python3"].filter(
    (candidate): candidate is string => Boolean(candidate),
  );
  for (const python of candidates) {
    try {
      const version = execFileSync(
        python,
        ["-c", "import huggingface_hub; print(huggingface_hub.__version__)"],
        {
          stdio: ["ignore", "pipe", "ignore"],
        },
      )
        .toString()
        .trim();
      return { python, reason: `huggingface_hub ${version} in ${python}` };
    } catch {
      // try the next candidate
    }
  }
  return {
    reason: `no Python with huggingface_hub among ${candidates.join(", ")}; run scripts/hub/install.sh or set MEDFM_TEST_HF_PYTHON to one`,
  };
}

const hubPython = findHubPython();
const run = promisify(execFile);

describe(`cache shared with huggingface_hub (${hubPython.reason})`, () => {
  it.skipIf(hubPython.python === undefined)(
    "huggingface_hub finds, offline, the files MedFM.js pulled, and scan_cache_dir sees no fault",
    async () => {
      const snapshot = await pullSnapshot("medfm-test/sharded", {
        endpoint: hub.endpoint,
        cacheDir,
        token: false,
      });
      const script = `
import json, sys
from huggingface_hub import hf_hub_download, scan_cache_dir
cache, files = sys.argv[1], sys.argv[2:]
paths = {f: hf_hub_download("medfm-test/sharded", f, cache_dir=cache, local_files_only=True) for f in files}
info = scan_cache_dir(cache)
repo = next(iter(info.repos))
print(json.dumps({"paths": paths, "warnings": [str(w) for w in info.warnings],
  "refs": sorted(r for rev in repo.revisions for r in rev.refs),
  "commits": [rev.commit_hash for rev in repo.revisions],
  "files": sorted(f.file_name for rev in repo.revisions for f in rev.files)}))
`;
      const { stdout } = await run(hubPython.python as string, [
        "-c",
        script,
        cacheDir,
        ...snapshot.files.keys(),
      ]);
      const report = JSON.parse(stdout);
      expect(report.paths).toEqual(Object.fromEntries(snapshot.files));
      expect(report.warnings).toEqual([]);
      expect(report.refs).toEqual(["main"]);
      expect(report.commits).toEqual([shardedCommit]);
      expect(report.files).toEqual([...snapshot.files.keys()].sort());
    },
  );

  it.skipIf(hubPython.python === undefined)(
    "MedFM.js reads, offline, what huggingface_hub downloaded from the same hub",
    async () => {
      const script = `
import sys
from huggingface_hub import hf_hub_download
for f in sys.argv[2:]:
    print(hf_hub_download("timm/vit-tiny-test", f, cache_dir=sys.argv[1]))
`;
      const { stdout } = await run(
        hubPython.python as string,
        ["-c", script, cacheDir, "config.json", "model.safetensors"],
        { env: { ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_OFFLINE: "0", HF_TOKEN: "" } },
      );
      const pythonPaths = stdout.trim().split("\n");
      await hub.close();
      const snapshot = await pullSnapshot("timm/vit-tiny-test", { cacheDir, offline: true });
      expect([...snapshot.files.values()]).toEqual(pythonPaths);
      expect(snapshot.commit).toBe(commit);
      const weightFiles = await resolveWeightFiles(snapshot);
      expect(sha256Hex(readFileSync(weightFiles.files[0] as string))).toBe(sha256Hex(weights));
      hub = await startFakeHub([]);
    },
  );
});
