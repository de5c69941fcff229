import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NativeBackendAsset } from "./assets";
import { NATIVE_BACKEND_MANIFEST } from "./manifest";

// The package as npm publishes it: packed, then installed alone into an empty folder. `.ci/run`
// provisions the real backend with this tarball's bin; these tests check what the tarball carries
// and that its bin runs outside the workspace.
const packageDirectory = fileURLToPath(new URL("..", import.meta.url));
const provisionedDirectory = fileURLToPath(new URL("../../../.medfm/native", import.meta.url));
const workDirectory = mkdtempSync(path.join(tmpdir(), "medfm-native-pack-"));
const installDirectory = path.join(workDirectory, "project");
const installedPackage = path.join(installDirectory, "node_modules", "@medfm", "native-backend");
const assets: NativeBackendAsset[] = ["medfm_kernels.cc", "patch-binding.py", "extract-wheel.py"];

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} in ${cwd} exited ${result.status}: ${result.stderr}`,
    );
  }
  return result.stdout;
}

beforeAll(() => {
  run("npx", ["tsup"], packageDirectory);
  run("npm", ["pack", "--pack-destination", workDirectory], packageDirectory);
  const tarball = readdirSync(workDirectory).find((name) => name.endsWith(".tgz"));
  if (!tarball) throw new Error(`npm pack wrote no tarball into ${workDirectory}`);
  run("mkdir", ["-p", installDirectory], workDirectory);
  writeFileSync(
    path.join(installDirectory, "package.json"),
    '{ "name": "fresh", "private": true }',
  );
  run(
    "npm",
    ["install", "--no-audit", "--no-fund", path.join(workDirectory, tarball)],
    installDirectory,
  );
}, 300_000);

afterAll(() => {
  rmSync(workDirectory, { recursive: true, force: true });
});

describe("the packed @medfm/native-backend", () => {
  it("ships every asset byte for byte and locates them from its own dist", async () => {
    const installed = (await import(
      pathToFileURL(path.join(installedPackage, "dist", "index.js")).href
    )) as typeof import("./index");
    for (const asset of assets) {
      const located = installed.nativeBackendAssetPath(asset);
      expect(located).toBe(path.join(installedPackage, "assets", asset));
      expect(readFileSync(located)).toEqual(
        readFileSync(path.join(packageDirectory, "assets", asset)),
      );
    }
    expect(existsSync(path.join(installedPackage, "src", "install.test.ts"))).toBe(false);
  });

  it("runs its bin outside the workspace and says when nothing is provisioned", () => {
    const empty = path.join(workDirectory, "empty");
    const output = run(
      path.join(installDirectory, "node_modules", ".bin", "medfm-native-backend"),
      ["status", "--dir", empty],
      installDirectory,
    );
    expect(output).toBe(`no native backend in ${empty}; run: medfm-native-backend install\n`);
  });

  it.runIf(existsSync(path.join(provisionedDirectory, NATIVE_BACKEND_MANIFEST)))(
    "reads the manifest of the backend .ci/run provisioned with this tarball's bin",
    () => {
      const output = run(
        path.join(installDirectory, "node_modules", ".bin", "medfm-native-backend"),
        ["status", "--dir", provisionedDirectory],
        installDirectory,
      );
      const manifest = JSON.parse(output) as { medfmKernels: boolean; packagePath: string };
      expect(manifest.medfmKernels).toBe(true);
      expect(existsSync(path.join(manifest.packagePath, "lib"))).toBe(true);
    },
  );
});
