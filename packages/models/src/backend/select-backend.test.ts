import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { BackendUnavailableError } from "./backend-unavailable-error";
import { resetBackendSelection, selectBackend } from "./select-backend";

function notFound(name: string): Error {
  return Object.assign(new Error(`Cannot find package '${name}' imported from /somewhere`), {
    code: "ERR_MODULE_NOT_FOUND",
  });
}

/** Imports like Node would with neither tfjs-node package present. */
async function withoutNative(specifier: string): Promise<unknown> {
  if (specifier.startsWith("@tensorflow/tfjs-node")) throw notFound(specifier);
  return import(specifier);
}

/** A stand-in for tfjs-node: registers a `tensorflow` backend into the global engine. */
async function fakeNative(specifier: string): Promise<unknown> {
  if (specifier === "@tensorflow/tfjs-node-gpu") throw notFound(specifier);
  if (specifier === "@tensorflow/tfjs-node") {
    const factory = tf.findBackendFactory("cpu");
    if (factory === null) throw new Error("no cpu backend factory");
    tf.registerBackend("tensorflow", factory);
    return {};
  }
  return import(specifier);
}

function recorder(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

/** A working directory without `.medfm/native`, so this checkout's provisioned backend stays out. */
const bare = mkdtempSync(join(tmpdir(), "medfm-select-bare-"));
const scratch: string[] = [bare];

afterAll(() => {
  for (const directory of scratch) rmSync(directory, { recursive: true, force: true });
});

/** A working directory with `.medfm/native/node_modules/@tensorflow/<names>` package stubs. */
function provisioned(names: string[], manifest?: string): string {
  const cwd = mkdtempSync(join(tmpdir(), "medfm-select-native-"));
  scratch.push(cwd);
  for (const name of names) {
    const directory = join(cwd, ".medfm/native/node_modules/@tensorflow", name);
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, "package.json"), JSON.stringify({ name: `@tensorflow/${name}` }));
  }
  if (manifest !== undefined) {
    mkdirSync(join(cwd, ".medfm/native"), { recursive: true });
    writeFileSync(join(cwd, ".medfm/native/medfm-native-backend.json"), manifest);
  }
  return cwd;
}

/** Registers a fake `tensorflow` backend when `directory` is loaded; records every load. */
function fakeNativeAt(directory: string, loaded: string[]) {
  return async (specifier: string): Promise<unknown> => {
    loaded.push(specifier);
    if (specifier === directory) {
      const factory = tf.findBackendFactory("cpu");
      if (factory === null) throw new Error("no cpu backend factory");
      tf.registerBackend("tensorflow", factory);
      return {};
    }
    return withoutNative(specifier);
  };
}

afterEach(() => {
  resetBackendSelection();
  if (tf.findBackendFactory("tensorflow") !== null) tf.removeBackend("tensorflow");
});

describe("selectBackend", () => {
  it("falls back to wasm and says why each native package was skipped", async () => {
    const output = recorder();
    const importPackage = async (specifier: string) => {
      if (specifier === "@tensorflow/tfjs-node")
        throw new Error("libtensorflow.so.2: cannot open shared object file\n    at dlopen");
      return withoutNative(specifier);
    };
    const selection = await selectBackend({ env: {}, cwd: bare, log: output.log, importPackage });
    expect(selection.backend).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(selection.chosenBy).toBe("auto");
    expect(selection.skipped).toEqual([
      { backend: "tensorflow", source: "@tensorflow/tfjs-node-gpu", reason: "not installed" },
      {
        backend: "tensorflow",
        source: "@tensorflow/tfjs-node",
        reason: "libtensorflow.so.2: cannot open shared object file",
      },
    ]);
    expect(output.lines).toEqual([selection.summary]);
    expect(selection.summary).toContain("@tensorflow/tfjs-node-gpu (not installed)");
    expect(selection.summary).toContain("libtensorflow.so.2");
  });

  it("prints once for repeated calls with the same request", async () => {
    const output = recorder();
    const first = await selectBackend({
      env: {},
      cwd: bare,
      log: output.log,
      importPackage: withoutNative,
    });
    const second = await selectBackend({
      env: {},
      cwd: bare,
      log: output.log,
      importPackage: withoutNative,
    });
    expect(second).toBe(first);
    expect(output.lines).toHaveLength(1);
  });

  it("prefers a registered tensorflow backend", async () => {
    const output = recorder();
    const selection = await selectBackend({
      env: {},
      cwd: bare,
      log: output.log,
      importPackage: fakeNative,
    });
    expect(selection.backend).toBe("tensorflow");
    expect(selection.source).toBe("@tensorflow/tfjs-node");
    expect(selection.skipped.map((entry) => entry.source)).toEqual(["@tensorflow/tfjs-node-gpu"]);
    expect(tf.getBackend()).toBe("tensorflow");
  });

  it("tries MEDFM_TFJS_NODE_PATH first and reports a missing directory", async () => {
    const output = recorder();
    // The real loader, on a directory that does not exist.
    const selection = await selectBackend({
      env: { MEDFM_TFJS_NODE_PATH: "/nonexistent/medfm/tfjs-node" },
      log: output.log,
    });
    expect(selection.skipped[0]).toEqual({
      backend: "tensorflow",
      source: "MEDFM_TFJS_NODE_PATH=/nonexistent/medfm/tfjs-node",
      reason: "no package there",
    });
  });

  it("finds the backend provisioned in <cwd>/.medfm/native without MEDFM_TFJS_NODE_PATH", async () => {
    const cwd = provisioned(["tfjs-node"]);
    const directory = join(cwd, ".medfm/native/node_modules/@tensorflow/tfjs-node");
    const loaded: string[] = [];
    const output = recorder();
    const selection = await selectBackend({
      env: {},
      cwd,
      log: output.log,
      importPackage: fakeNativeAt(directory, loaded),
    });
    expect(selection.backend).toBe("tensorflow");
    expect(selection.source).toBe(`${directory} (provisioned in ${join(cwd, ".medfm/native")})`);
    expect(selection.skipped).toEqual([]);
    expect(loaded).toEqual([directory]);
    expect(output.lines[0]).toContain(`from ${directory} (provisioned in`);
  });

  it("prefers the manifest's package path, then tfjs-node-gpu, and reports each skip", async () => {
    const cwd = provisioned(["tfjs-node-gpu", "tfjs-node"]);
    const built = join(cwd, "elsewhere/tfjs-node");
    const manifestFile = join(cwd, ".medfm/native/medfm-native-backend.json");
    writeFileSync(manifestFile, JSON.stringify({ packagePath: built }));
    const gpu = join(cwd, ".medfm/native/node_modules/@tensorflow/tfjs-node-gpu");
    const cpu = join(cwd, ".medfm/native/node_modules/@tensorflow/tfjs-node");
    const loaded: string[] = [];
    const importPackage = async (specifier: string) => {
      if (specifier === built) throw notFound(built);
      if (specifier === gpu) throw new Error("libcudart.so.12: cannot open shared object file");
      return fakeNativeAt(cpu, loaded)(specifier);
    };
    const selection = await selectBackend({ env: {}, cwd, log: () => {}, importPackage });
    expect(selection.source).toBe(`${cpu} (provisioned in ${join(cwd, ".medfm/native")})`);
    expect(selection.skipped).toEqual([
      {
        backend: "tensorflow",
        source: `${built} (from ${manifestFile})`,
        reason: "no package there",
      },
      {
        backend: "tensorflow",
        source: `${gpu} (provisioned in ${join(cwd, ".medfm/native")})`,
        reason: "libcudart.so.12: cannot open shared object file",
      },
    ]);
  });

  it("says why a broken manifest was not used and goes on", async () => {
    const cwd = provisioned([], '{"packagePath": 3}');
    const manifestFile = join(cwd, ".medfm/native/medfm-native-backend.json");
    const selection = await selectBackend({
      env: {},
      cwd,
      log: () => {},
      importPackage: withoutNative,
    });
    expect(selection.backend).toBe("wasm");
    expect(selection.skipped[0]).toEqual({
      backend: "tensorflow",
      source: manifestFile,
      reason: `cannot use ${manifestFile}: has no string "packagePath" (got 3)`,
    });
  });

  it("lets MEDFM_TFJS_NODE_PATH replace the provisioned lookup", async () => {
    const cwd = provisioned(["tfjs-node"]);
    const loaded: string[] = [];
    const selection = await selectBackend({
      env: { MEDFM_TFJS_NODE_PATH: "/opt/tfjs-node" },
      cwd,
      log: () => {},
      importPackage: fakeNativeAt("/opt/tfjs-node", loaded),
    });
    expect(selection.source).toBe("MEDFM_TFJS_NODE_PATH=/opt/tfjs-node");
    expect(loaded).toEqual(["/opt/tfjs-node"]);
  });

  it("obeys MEDFM_BACKEND and lets the option override it", async () => {
    const output = recorder();
    const fromEnv = await selectBackend({
      env: { MEDFM_BACKEND: "cpu" },
      cwd: bare,
      log: output.log,
      importPackage: withoutNative,
    });
    expect(fromEnv).toMatchObject({ backend: "cpu", chosenBy: "MEDFM_BACKEND", skipped: [] });
    expect(tf.getBackend()).toBe("cpu");
    const fromOption = await selectBackend({
      backend: "wasm",
      env: { MEDFM_BACKEND: "cpu" },
      cwd: bare,
      log: output.log,
      importPackage: withoutNative,
    });
    expect(fromOption).toMatchObject({ backend: "wasm", chosenBy: "option" });
    expect(tf.getBackend()).toBe("wasm");
    expect(output.lines).toHaveLength(2);
    expect(output.lines[0]).toContain("forced by MEDFM_BACKEND");
  });

  it("fails clearly when tensorflow is forced but not provisioned", async () => {
    const attempt = selectBackend({
      env: { MEDFM_BACKEND: "tensorflow" },
      cwd: bare,
      log: () => {},
      importPackage: withoutNative,
    });
    await expect(attempt).rejects.toSatisfy(BackendUnavailableError.isInstance);
    await expect(attempt).rejects.toThrow(/MEDFM_BACKEND asks for the 'tensorflow' backend/);
    await expect(attempt).rejects.toThrow(/pnpm medfm backend install/);
    await expect(attempt).rejects.toThrow(/@tensorflow\/tfjs-node: not installed/);
  });

  it("rejects an unknown MEDFM_BACKEND value", async () => {
    await expect(
      selectBackend({ env: { MEDFM_BACKEND: "gpu" }, log: () => {}, importPackage: withoutNative }),
    ).rejects.toThrow("MEDFM_BACKEND is 'gpu'; expected one of tensorflow, wasm, cpu");
  });

  it("selects a working backend with the real package loader", async () => {
    const output = recorder();
    const selection = await selectBackend({ env: {}, cwd: bare, log: output.log });
    expect(["tensorflow", "wasm"]).toContain(selection.backend);
    for (const entry of selection.skipped) {
      expect(entry.reason).not.toBe("");
      expect(selection.summary).toContain(entry.source);
    }
    const sum = tf.tidy(() => tf.sum(tf.tensor1d([1, 2, 3])).dataSync()[0]);
    expect(sum).toBe(6);
  });
});
