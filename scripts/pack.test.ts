/**
 * Uses the packages as a user will: packs every publishable package with `pnpm pack`, installs
 * the tarballs with plain `npm i` into a fresh project outside the workspace, and from there
 * imports @medfm/models as ESM and as CommonJS, builds a small DenseNet and runs a prediction.
 * Needs the npm registry (for tfjs and sharp) and a prior `pnpm build` (the test command does it).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = new URL("..", import.meta.url).pathname;
const packages = ["data", "metrics", "models", "native-backend", "track"];
const pnpm = ["--yes", "pnpm@10.34.8"];
let project = "";

const predictScript = (kind: "esm" | "cjs"): string => {
  const load =
    kind === "esm"
      ? 'const models = await import("@medfm/models");'
      : 'const models = require("@medfm/models");';
  const body = `
  const backend = await models.selectBackend({ backend: "cpu", log: () => {} });
  const model = models.createClassifier({
    backbone: models.densenet({ growthRate: 4, blockConfig: [1, 1], numInitFeatures: 8, bnSize: 2, seed: 1 }),
    head: models.linearHead({ numClasses: 3, kind: "multi-label", seed: 1 }),
  });
  const tf = require("@tensorflow/tfjs");
  const images = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 7);
  const logits = model.predict(images);
  console.log(JSON.stringify({ backend: backend.backend, shape: logits.shape, finite: Array.from(logits.dataSync()).every(Number.isFinite) }));`;
  return kind === "esm"
    ? `import { createRequire } from "node:module";\nconst require = createRequire(import.meta.url);\n${load}\n${body}\n`
    : `(async () => {\n${load}\n${body}\n})().catch((error) => { console.error(error); process.exit(1); });\n`;
};

describe("packed packages installed with npm", () => {
  beforeAll(() => {
    for (const name of packages) {
      if (!existsSync(join(root, "packages", name, "dist", "index.js"))) {
        throw new Error(`packages/${name}/dist is missing: run \`pnpm build\` first`);
      }
    }
    project = mkdtempSync(join(tmpdir(), "medfm-pack-"));
    for (const name of packages) {
      execFileSync("npx", [...pnpm, "pack", "--pack-destination", project], {
        cwd: join(root, "packages", name),
        stdio: "pipe",
      });
    }
    const tarballs = readdirSync(project).filter((file) => file.endsWith(".tgz"));
    expect(tarballs).toHaveLength(packages.length);
    const local = Object.fromEntries(
      tarballs.map((file) => [
        `@medfm/${file.replace(/^medfm-/, "").replace(/-\d+\.\d+\.\d+.*\.tgz$/, "")}`,
        `file:./${file}`,
      ]),
    );
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify(
        { name: "medfm-user", private: true, dependencies: local, overrides: local },
        null,
        2,
      ),
    );
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: project,
      stdio: "pipe",
    });
  }, 600_000);

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  for (const kind of ["esm", "cjs"] as const) {
    it(`imports @medfm/models as ${kind.toUpperCase()} and predicts with a small DenseNet`, () => {
      const file = join(project, kind === "esm" ? "predict.mjs" : "predict.cjs");
      writeFileSync(file, predictScript(kind));
      const output = execFileSync("node", [file], { cwd: project, encoding: "utf8" });
      const result = JSON.parse(output.trim().split("\n").at(-1) ?? "{}");
      expect(result).toEqual({ backend: "cpu", shape: [2, 3], finite: true });
    });
  }

  it("bundles the installed @medfm/models and @medfm/data for the browser with no Node module", async () => {
    // A web app's bundler: esbuild for the browser platform picks the packages' `browser` export
    // condition and fails on any Node built-in (or sharp) left reachable from it.
    const workspace = createRequire(join(root, "packages", "models", "package.json"));
    const esbuild = (await import(workspace.resolve("esbuild"))) as typeof import("esbuild");
    const result = await esbuild.build({
      stdin: {
        contents: `import { httpClassifier, loadClassifierFrom, gradCam } from "@medfm/models";
import { preprocessRgba } from "@medfm/data";
console.log(httpClassifier, loadClassifierFrom, gradCam, preprocessRgba);`,
        resolveDir: project,
      },
      bundle: true,
      write: false,
      platform: "browser",
      format: "esm",
      logLevel: "silent",
    });
    expect(result.outputFiles[0].text).toContain("medfm-classifier");
  });

  it("installs @medfm/data with sharp and parses a chest annotation line", () => {
    const file = join(project, "data.mjs");
    writeFileSync(
      file,
      `import { parseAnnotations, chestTask } from "@medfm/data";
const set = parseAnnotations("a.png ${"0,".repeat(18)}1\\n", { task: chestTask });
console.log(JSON.stringify({ count: set.samples.length, last: set.samples[0].labels[18] }));\n`,
    );
    const output = execFileSync("node", [file], { cwd: project, encoding: "utf8" });
    expect(JSON.parse(output.trim())).toEqual({ count: 1, last: 1 });
  });
});
