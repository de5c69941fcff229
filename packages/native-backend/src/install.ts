import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import path from "node:path";
import { nativeBackendAssetPath } from "./assets";
import {
  DEFAULT_NATIVE_DIRECTORY,
  NATIVE_BACKEND_MANIFEST,
  type NativeBackendManifest,
} from "./manifest";
import { NativeBackendError } from "./native-backend-error";
import { ASYNC_BINDING_SYMBOLS, missingTensorflowSymbols, undefinedPythonSymbols } from "./symbols";

/** Version of `@tensorflow/tfjs-node` whose native binding is built; matches `@tensorflow/tfjs`. */
export const TFJS_NODE_VERSION = "4.22.0";

/**
 * TensorFlow wheel used by default. 2.12 and later ship `libtensorflow_cc.so.2`, which exports the
 * C API without needing Python; see docs/native-backend.md for the versions that were tried.
 */
export const DEFAULT_TENSORFLOW_VERSION = "2.18.1";

/** Python version tag passed to `pip download`: only the shared objects are used, not Python code. */
export const DEFAULT_WHEEL_PYTHON_VERSION = "3.10";

/** Runs a program and resolves with its standard output; rejects with a `NativeBackendError`. */
export type RunCommand = (
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
) => Promise<string>;

/** Options of `installNativeBackend`. */
export interface InstallNativeBackendOptions {
  /** Provisioning directory; created when missing. Default `.medfm/native`. */
  directory?: string;
  /** Build `@tensorflow/tfjs-node-gpu` against the `tensorflow` wheel and its CUDA wheels. */
  gpu?: boolean;
  /** TensorFlow wheel version. Default `DEFAULT_TENSORFLOW_VERSION`. */
  tensorflowVersion?: string;
  /** Python version tag of the wheel to download. Default `DEFAULT_WHEEL_PYTHON_VERSION`. */
  wheelPythonVersion?: string;
  /** Python interpreter that runs pip and the wheel extractor. Default `python3`. */
  python?: string;
  /** Directory holding `include/node/node_api.h`; default: next to the running Node.js. */
  nodeHeadersDirectory?: string;
  /**
   * `@tensorflow/tfjs` package directory that the built backend must register into. Default: the
   * one the working directory resolves, else the one `resolveTfjsFrom` resolves.
   */
  tfjsPackageDirectory?: string;
  /** Further files whose `@tensorflow/tfjs` is used when the working directory resolves none. */
  resolveTfjsFrom?: readonly string[];
  /** Receives one progress line at a time. Default: standard error. */
  log?: (line: string) => void;
  /** Runs external programs; tests inject a fake. */
  runCommand?: RunCommand;
}

/** Runs a program, collecting both streams; its output is shown only in the error when it fails. */
export const spawnCommand: RunCommand = (command, args, options) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: Buffer[] = [];
    const errors: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => output.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => errors.push(chunk));
    child.on("error", (error) =>
      reject(new NativeBackendError(`could not start ${command}: ${error.message}`)),
    );
    child.on("close", (code) => {
      const stdout = Buffer.concat(output).toString("utf8");
      if (code === 0) {
        resolve(stdout);
        return;
      }
      const tail = `${stdout}\n${Buffer.concat(errors).toString("utf8")}`.trim().split("\n");
      reject(
        new NativeBackendError(
          `${command} ${args.join(" ")} exited with code ${code} in ${options.cwd}:\n` +
            tail.slice(-25).join("\n"),
        ),
      );
    });
  });

/** Highest N-API version in tfjs-node's `binary.napi_versions` that this Node.js supports. */
export function napiBuildVersion(napiVersions: readonly number[], nodeNapiVersion: number): number {
  const usable = napiVersions.filter((version) => version <= nodeNapiVersion);
  if (usable.length === 0) {
    throw new NativeBackendError(
      `Node.js N-API version ${nodeNapiVersion} is below every version tfjs-node supports (${napiVersions.join(", ")})`,
    );
  }
  return Math.max(...usable);
}

/**
 * C source of a library defining every given Python C API symbol as a function that aborts.
 * TensorFlow before 2.12 exports its C API only from `_pywrap_tensorflow_internal.so`, which
 * references Python symbols (e.g. `PyTuple_Type`) that a Node.js process lacks; the C API itself
 * never calls them.
 */
export function pythonStubSource(symbols: readonly string[]): string {
  const lines = [
    "#include <stdio.h>",
    "#include <stdlib.h>",
    "static void medfm_python_stub_called(const char* name) {",
    '  fprintf(stderr, "medfm: TensorFlow called the Python C API (%s), which Node.js lacks\\n", name);',
    "  abort();",
    "}",
  ];
  for (const symbol of symbols) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(symbol)) {
      throw new NativeBackendError(`not a C identifier in the Python symbol list: "${symbol}"`);
    }
    lines.push(`void ${symbol}(void) { medfm_python_stub_called("${symbol}"); }`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Directory of the `@tensorflow/tfjs` package that the working directory loads, else the first of
 * `alsoFrom` (files or directories, e.g. the calling CLI's own file) that resolves it.
 */
export function resolveTfjsPackageDirectory(
  workingDirectory: string,
  alsoFrom: readonly string[] = [],
): string {
  const candidates = [path.join(workingDirectory, "package.json"), ...alsoFrom];
  for (const from of candidates) {
    try {
      const packageJson = createRequire(from).resolve("@tensorflow/tfjs/package.json");
      return realpathSync(path.dirname(packageJson));
    } catch {
      // Try the next place; the error below lists them all.
    }
  }
  throw new NativeBackendError(
    `@tensorflow/tfjs resolves from none of ${candidates.map((from) => path.dirname(from)).join(", ")}; pass --tfjs DIR (the @tensorflow/tfjs directory your program loads)`,
  );
}

function replaceWithSymlink(link: string, target: string): void {
  rmSync(link, { recursive: true, force: true });
  mkdirSync(path.dirname(link), { recursive: true });
  symlinkSync(target, link, "dir");
}

const VERIFY_SCRIPT = `
const [tfjsDirectory, packagePath] = process.argv.slice(1);
const tf = require(tfjsDirectory);
const node = require(packagePath);
(async () => {
  if (!(await tf.setBackend("tensorflow"))) throw new Error("tensorflow backend did not initialize");
  const a = tf.tensor2d([[1, 2], [3, 4]]);
  const product = Array.from(await tf.matMul(a, a).data());
  const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
  const w = tf.ones([2, 2, 1, 1]);
  const gradient = Array.from(await tf.grad((w) => tf.conv2d(x, w, 1, "valid").sum())(w).data());
  console.log(JSON.stringify({
    backend: tf.getBackend(),
    tensorflowVersion: tf.backend().binding.TF_Version,
    sameEngine: node.engine() === tf.engine(),
    medfmKernels: tf.backend().binding.medfmKernels === 1,
    product,
    gradient,
  }));
})().catch((error) => { console.error(error); process.exit(1); });
`;

/**
 * Provisions a native TensorFlow backend without Google's storage: downloads a TensorFlow wheel
 * with pip (honouring `PIP_INDEX_URL`), installs `@tensorflow/tfjs-node` without its install
 * script, lays out `deps/lib` and `deps/include` from the wheel, builds the binding with
 * node-gyp and checks a matrix product and a convolution gradient on the `tensorflow` backend.
 */
export async function installNativeBackend(
  options: InstallNativeBackendOptions = {},
): Promise<NativeBackendManifest> {
  const directory = path.resolve(options.directory ?? DEFAULT_NATIVE_DIRECTORY);
  const gpu = options.gpu ?? false;
  const tensorflowVersion = options.tensorflowVersion ?? DEFAULT_TENSORFLOW_VERSION;
  const python = options.python ?? "python3";
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const run = options.runCommand ?? spawnCommand;
  const packageName = gpu ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
  const wheelName = gpu ? "tensorflow" : "tensorflow-cpu";
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new NativeBackendError(
      `backend install supports Linux x86_64 only (this is ${process.platform} ${process.arch}): the PyPI wheels for other systems are not laid out the same way`,
    );
  }
  const tfjsPackageDirectory =
    options.tfjsPackageDirectory ??
    resolveTfjsPackageDirectory(process.cwd(), options.resolveTfjsFrom);
  const wheelDirectory = path.join(directory, "wheels");
  mkdirSync(wheelDirectory, { recursive: true });
  const pipDownload = (requirements: readonly string[]) =>
    run(
      python,
      [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        options.wheelPythonVersion ?? DEFAULT_WHEEL_PYTHON_VERSION,
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux_2_27_x86_64",
        "--dest",
        wheelDirectory,
        ...requirements,
      ],
      { cwd: directory },
    );

  log(`[1/6] pip download ${wheelName}==${tensorflowVersion} (PyPI or PIP_INDEX_URL)`);
  await pipDownload([`${wheelName}==${tensorflowVersion}`]);
  const wheelPrefix = `${wheelName.replace("-", "_")}-${tensorflowVersion}-`;
  const wheel = readdirSync(wheelDirectory).find(
    (name) => name.startsWith(wheelPrefix) && name.endsWith(".whl"),
  );
  if (!wheel) {
    throw new NativeBackendError(
      `pip reported success but no ${wheelPrefix}*.whl is in ${wheelDirectory}`,
    );
  }

  log(`[2/6] npm install ${packageName}@${TFJS_NODE_VERSION} node-gyp --ignore-scripts`);
  const manifestPackage = path.join(directory, "package.json");
  if (!existsSync(manifestPackage)) {
    writeFileSync(
      manifestPackage,
      `${JSON.stringify({ name: "medfm-native-backend", private: true }, null, 2)}\n`,
    );
  }
  await run(
    "npm",
    [
      "install",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      `${packageName}@${TFJS_NODE_VERSION}`,
      "node-gyp@11",
    ],
    { cwd: directory },
  );
  const packagePath = path.join(directory, "node_modules", ...packageName.split("/"));

  log(`[3/6] extracting libraries and C API headers from ${wheel}`);
  const deps = path.join(packagePath, "deps");
  for (const stale of ["deps", "build", "lib"]) {
    rmSync(path.join(packagePath, stale), { recursive: true, force: true });
  }
  const extractor = nativeBackendAssetPath("extract-wheel.py");
  const extracted = JSON.parse(
    await run(python, [extractor, path.join(wheelDirectory, wheel), deps], { cwd: directory }),
  ) as {
    libraries: string[];
    headers: number;
    missingHeaders: string[];
    cudaRequirements: string[];
  };
  log(
    `      ${extracted.libraries.join(", ")}; ${extracted.headers} headers` +
      (extracted.missingHeaders.length > 0
        ? `; not in the wheel: ${extracted.missingHeaders.join(", ")}`
        : ""),
  );
  if (gpu) {
    if (extracted.cudaRequirements.length === 0) {
      throw new NativeBackendError(
        `${wheel} declares no nvidia-* requirements for the "and-cuda" extra; pick a TensorFlow of 2.14 or later for --gpu`,
      );
    }
    log(`      pip download ${extracted.cudaRequirements.join(" ")}`);
    await pipDownload(extracted.cudaRequirements);
    for (const requirement of extracted.cudaRequirements) {
      const name = /^[A-Za-z0-9_.-]+/.exec(requirement)?.[0] ?? requirement;
      const prefix = `${name.replace(/[-.]/g, "_")}-`;
      const cudaWheel = readdirSync(wheelDirectory)
        .filter((file) => file.startsWith(prefix) && file.endsWith(".whl"))
        .sort()
        .at(-1);
      if (!cudaWheel) throw new NativeBackendError(`no ${prefix}*.whl in ${wheelDirectory}`);
      await run(python, [extractor, "--nvidia", path.join(wheelDirectory, cudaWheel), deps], {
        cwd: directory,
      });
    }
  }

  log("[4/6] checking the C API symbols and naming the libraries as tfjs-node's build expects");
  const libraryDirectory = path.join(deps, "lib");
  const symbolTables = await Promise.all(
    extracted.libraries.map((library) =>
      run("nm", ["-D", "--defined-only", path.join(libraryDirectory, library)], {
        cwd: directory,
      }),
    ),
  );
  const missing = missingTensorflowSymbols(symbolTables);
  if (missing.length > 0) {
    throw new NativeBackendError(
      `${wheel} exports none of these symbols that tfjs-node ${TFJS_NODE_VERSION} needs: ${missing.join(", ")}`,
    );
  }
  symlinkSync(
    "libtensorflow_framework.so.2",
    path.join(libraryDirectory, "libtensorflow_framework.so"),
  );
  if (extracted.libraries.includes("libtensorflow_cc.so.2")) {
    symlinkSync("libtensorflow_cc.so.2", path.join(libraryDirectory, "libtensorflow.so.2"));
    symlinkSync("libtensorflow_cc.so.2", path.join(libraryDirectory, "libtensorflow.so"));
  } else {
    const legacy = "_pywrap_tensorflow_internal.so";
    const undefinedSymbols = await run("nm", ["-D", "-u", path.join(libraryDirectory, legacy)], {
      cwd: directory,
    });
    const stubSource = path.join(deps, "medfm-python-stub.c");
    writeFileSync(stubSource, pythonStubSource(undefinedPythonSymbols(undefinedSymbols)));
    await run(
      "cc",
      [
        "-shared",
        "-fPIC",
        "-O1",
        "-Wl,-soname,libmedfm_python_stub.so",
        "-o",
        path.join(libraryDirectory, "libmedfm_python_stub.so"),
        stubSource,
      ],
      { cwd: directory },
    );
    symlinkSync(legacy, path.join(libraryDirectory, "libtensorflow.so.2"));
    // A linker script: -ltensorflow then records both libraries as DT_NEEDED of the binding.
    writeFileSync(
      path.join(libraryDirectory, "libtensorflow.so"),
      `INPUT(${legacy} libmedfm_python_stub.so)\n`,
    );
  }

  const asyncMissing = missingTensorflowSymbols(symbolTables, ASYNC_BINDING_SYMBOLS);
  // The patcher copies medfm_kernels.cc from beside itself (assets/) into the binding sources.
  const patcher = nativeBackendAssetPath("patch-binding.py");
  const bindingSources = path.join(packagePath, "binding");
  // On a GPU TensorFlow already queues kernels on CUDA streams: the patched binding passed the
  // parity checks on an H200 but gave no speed there (docs/native-backend.md), so keep it simple.
  const asyncExecution = !gpu && asyncMissing.length === 0;
  if (asyncExecution) {
    log(
      "      patching the binding for asynchronous op execution (MEDFM_TF_ASYNC=0 turns it off) and the medfm kernels",
    );
    await run(python, [patcher, bindingSources], { cwd: directory });
  } else {
    log(
      gpu
        ? "      binding left synchronous: on a GPU, asynchronous execution gave no speed (CUDA streams already queue kernels)"
        : `      binding left synchronous: ${wheel} lacks ${asyncMissing.join(", ")}`,
    );
    await run(python, [patcher, "--revert", bindingSources], { cwd: directory });
  }

  log("[5/6] building tfjs_binding.node with node-gyp");
  const packageJson = JSON.parse(readFileSync(path.join(packagePath, "package.json"), "utf8")) as {
    binary: { napi_versions: number[]; module_path: string };
  };
  const napi = napiBuildVersion(packageJson.binary.napi_versions, Number(process.versions.napi));
  const modulePath = path.join(packagePath, "lib", `napi-v${napi}`);
  const nodeHeaders =
    options.nodeHeadersDirectory ?? path.resolve(path.dirname(process.execPath), "..");
  const nodeGypArgs = [
    path.join(directory, "node_modules", "node-gyp", "bin", "node-gyp.js"),
    "rebuild",
    "--module_name=tfjs_binding",
    `--module_path=${modulePath}`,
    `--napi_build_version=${napi}`,
    `-j`,
    String(Math.max(1, availableParallelism())),
  ];
  if (existsSync(path.join(nodeHeaders, "include", "node", "node_api.h"))) {
    nodeGypArgs.push(`--nodedir=${nodeHeaders}`);
  } else {
    log(`      no Node.js headers under ${nodeHeaders}/include/node: node-gyp fetches them`);
  }
  await run(process.execPath, nodeGypArgs, { cwd: packagePath });

  log("[6/6] loading the binding into @tensorflow/tfjs and running a small product and gradient");
  // tfjs keeps its engine and kernel registry on the global object; pointing tfjs-node's own
  // @tensorflow/tfjs and tfjs-core at the caller's copies also keeps the cpu kernels registered once.
  const tfjsCore = realpathSync(
    path.dirname(
      createRequire(path.join(tfjsPackageDirectory, "package.json")).resolve(
        "@tensorflow/tfjs-core/package.json",
      ),
    ),
  );
  for (const [name, target] of [
    ["tfjs", tfjsPackageDirectory],
    ["tfjs-core", tfjsCore],
  ] as const) {
    const nested = path.join(packagePath, "node_modules", "@tensorflow", name);
    const link = existsSync(nested)
      ? nested
      : path.join(directory, "node_modules", "@tensorflow", name);
    replaceWithSymlink(link, target);
  }
  const verification = JSON.parse(
    (
      await run(process.execPath, ["-e", VERIFY_SCRIPT, tfjsPackageDirectory, packagePath], {
        cwd: directory,
      })
    )
      .trim()
      .split("\n")
      .at(-1) ?? "{}",
  ) as {
    backend: string;
    tensorflowVersion: string;
    sameEngine: boolean;
    medfmKernels: boolean;
    product: number[];
    gradient: number[];
  };
  const expectedProduct = [7, 10, 15, 22];
  const expectedGradient = [12, 16, 24, 28];
  if (
    verification.backend !== "tensorflow" ||
    !verification.sameEngine ||
    verification.product.join() !== expectedProduct.join() ||
    verification.gradient.join() !== expectedGradient.join()
  ) {
    throw new NativeBackendError(
      `the built backend gave wrong results: ${JSON.stringify(verification)}; expected product ${expectedProduct} and gradient ${expectedGradient} on one engine`,
    );
  }
  if (verification.medfmKernels !== asyncExecution) {
    throw new NativeBackendError(
      asyncExecution
        ? `TensorFlow ${verification.tensorflowVersion} refused @medfm/models' kernels (medfm_kernels.cc); the build's output above says why`
        : "the unpatched binding registered @medfm/models' kernels, which only the patched one has",
    );
  }
  const manifest: NativeBackendManifest = {
    packagePath,
    packageName,
    tensorflowVersion: verification.tensorflowVersion,
    wheel,
    gpu,
    libraries: extracted.libraries,
    tfjsPackageDirectory,
    asyncExecution,
    medfmKernels: verification.medfmKernels,
    provisionedAt: new Date().toISOString(),
  };
  writeFileSync(
    path.join(directory, NATIVE_BACKEND_MANIFEST),
    `${JSON.stringify(manifest, null, 2)}\n`,
  );
  log(`TensorFlow ${verification.tensorflowVersion} backend ready. Make it visible with:`);
  log(`  export MEDFM_TFJS_NODE_PATH=${packagePath}`);
  return manifest;
}
