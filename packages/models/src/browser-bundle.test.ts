/**
 * The browser entries (`browser` export condition) of @medfm/models, @medfm/data and
 * @medfm/native-backend, bundled by esbuild for the browser platform as a web app's bundler
 * would: no Node built-in module (fs, path, worker_threads, node:*) may be reached.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import { describe, expect, it } from "vitest";

const packagesDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * Resolves `@medfm/*` through each package.json's `browser` export condition, mapped from
 * dist/ to the source it is built from (tests run on sources). Everything else is resolved by
 * esbuild for the browser platform, honouring packages' `browser` fields (tfjs maps its Node
 * platform files out that way), so a Node built-in left reachable fails the build.
 */
const browserResolution: Plugin = {
  name: "medfm-browser-resolution",
  setup(esbuild) {
    esbuild.onResolve({ filter: /^@medfm\// }, (args) => {
      const name = args.path.split("/")[1];
      const manifest = JSON.parse(
        readFileSync(join(packagesDir, name, "package.json"), "utf8"),
      ) as {
        exports: { ".": { browser?: { default: string } } };
      };
      const target = manifest.exports["."].browser?.default;
      if (!target) return { errors: [{ text: `@medfm/${name} has no browser export condition` }] };
      const source = target.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts");
      return { path: join(packagesDir, name, source) };
    });
  },
};

/** Node built-ins (and sharp) that the bundle could not resolve, each with its importer. */
async function bundle(entry: string): Promise<{ nodeImports: string[]; text: string }> {
  try {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      conditions: ["browser"],
      logLevel: "silent",
      plugins: [browserResolution],
    });
    return { nodeImports: [], text: result.outputFiles[0].text };
  } catch (error) {
    const failures = (error as { errors?: Array<{ text: string; location?: { file: string } }> })
      .errors;
    if (!failures) throw error;
    return {
      nodeImports: failures.map((failure) => `${failure.text} (in ${failure.location?.file})`),
      text: "",
    };
  }
}

describe("browser entries", () => {
  it("@medfm/models' browser entry bundles for the browser with no Node built-in", async () => {
    const { nodeImports, text } = await bundle(join(packagesDir, "models", "src", "browser.ts"));
    expect(nodeImports).toEqual([]);
    // The bundle really holds the model code and tfjs, not an empty shell.
    expect(text).toContain("medfm-classifier");
    expect(text).toContain("webgl");
  }, 120_000);

  it("@medfm/data's browser entry bundles with no Node built-in and no sharp", async () => {
    const { nodeImports, text } = await bundle(join(packagesDir, "data", "src", "browser.ts"));
    expect(nodeImports).toEqual([]);
    expect(text).not.toMatch(/from ["']sharp["']/);
    expect(text).toContain("preprocessRgba");
  }, 60_000);

  it("the check catches a Node import: the Node-only save-load module reaches node:fs", async () => {
    const { nodeImports } = await bundle(
      join(packagesDir, "models", "src", "weights", "save-load.ts"),
    );
    expect(nodeImports.some((line) => line.includes('"node:fs/promises"'))).toBe(true);
  }, 120_000);
});
