// Bundles scripts/native-backend/gpu-parity.ts with esbuild into one CommonJS file that runs with
// plain Node.js: our model sources, tfjs and tfjs-node-gpu's JavaScript inside, the native
// binding loaded at run time from MEDFM_TFJS_BINDING (tfjs-node-gpu finds it through
// node-pre-gyp, which is replaced by that variable). For a GPU machine with no pnpm install.
//
//   node scripts/native-backend/bundle-gpu-parity.mjs TFJS_NODE_GPU_DIR OUT.cjs
//
// TFJS_NODE_GPU_DIR is the package `medfm backend install --gpu` built
// (<dir>/node_modules/@tensorflow/tfjs-node-gpu).
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const [packageDirectory, outfile] = process.argv.slice(2);
if (!packageDirectory || !outfile) {
  console.error("usage: bundle-gpu-parity.mjs TFJS_NODE_GPU_DIR OUT.cjs");
  process.exit(2);
}
const root = fileURLToPath(new URL("../..", import.meta.url));
// esbuild is tsup's dependency (the repo has no direct one).
const require = createRequire(createRequire(`${root}/package.json`).resolve("tsup"));
const { build } = require("esbuild");

await build({
  entryPoints: [`${root}/scripts/native-backend/gpu-parity.ts`],
  outfile,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  logLevel: "error",
  // The model sources' own dependencies (tfjs) resolve from their package.
  nodePaths: [`${root}/packages/models/node_modules`],
  alias: {
    "@medfm/data": `${root}/packages/data/src/index.ts`,
    "@tensorflow/tfjs-node-gpu": resolve(packageDirectory),
  },
  // sharp (the data package's image pipeline) is not used by these checks.
  external: ["sharp"],
  plugins: [
    {
      name: "binding-from-environment",
      setup(builder) {
        builder.onResolve({ filter: /^@mapbox\/node-pre-gyp$/ }, () => ({
          path: "node-pre-gyp",
          namespace: "binding-from-environment",
        }));
        builder.onLoad({ filter: /.*/, namespace: "binding-from-environment" }, () => ({
          contents:
            "module.exports = { find() { const path = process.env.MEDFM_TFJS_BINDING; " +
            "if (!path) throw new Error('set MEDFM_TFJS_BINDING to tfjs_binding.node'); return path; } };",
          loader: "js",
        }));
      },
    },
  ],
});
console.log(`wrote ${outfile}`);
