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
import type { Command } from "commander";

/** Version of `@tensorflow/tfjs-node` whose native binding is built; matches `@tensorflow/tfjs`. */
export const TFJS_NODE_VERSION = "4.22.0";

/**
 * TensorFlow wheel used by default. 2.12 and later ship `libtensorflow_cc.so.2`, which exports the
 * C API without needing Python; see docs/native-backend.md for the versions that were tried.
 */
export const DEFAULT_TENSORFLOW_VERSION = "2.18.1";

/** Directory, relative to the working directory, that `medfm backend install` fills by default. */
export const DEFAULT_NATIVE_DIRECTORY = ".medfm/native";

/** Name of the JSON manifest written into the provisioning directory. */
export const NATIVE_BACKEND_MANIFEST = "medfm-native-backend.json";

/** Python version tag passed to `pip download`: only the shared objects are used, not Python code. */
export const DEFAULT_WHEEL_PYTHON_VERSION = "3.10";

/** C and eager C API functions that tfjs-node 4.22's `tfjs_binding.node` imports (`nm -u`). */
export const REQUIRED_TENSORFLOW_SYMBOLS: readonly string[] = [
  "TFE_ContextListDevices",
  "TFE_DeleteContext",
  "TFE_DeleteContextOptions",
  "TFE_DeleteOp",
  "TFE_DeleteTensorHandle",
  "TFE_Execute",
  "TFE_NewContext",
  "TFE_NewContextOptions",
  "TFE_NewOp",
  "TFE_NewTensorHandle",
  "TFE_OpAddInput",
  "TFE_OpSetAttrBool",
  "TFE_OpSetAttrBoolList",
  "TFE_OpSetAttrFloat",
  "TFE_OpSetAttrFloatList",
  "TFE_OpSetAttrInt",
  "TFE_OpSetAttrIntList",
  "TFE_OpSetAttrShape",
  "TFE_OpSetAttrString",
  "TFE_OpSetAttrType",
  "TFE_TensorHandleCopyToDevice",
  "TFE_TensorHandleDataType",
  "TFE_TensorHandleDim",
  "TFE_TensorHandleNumDims",
  "TFE_TensorHandleResolve",
  "TF_AllocateTensor",
  "TF_DataTypeSize",
  "TF_DeleteBuffer",
  "TF_DeleteDeviceList",
  "TF_DeleteGraph",
  "TF_DeleteSession",
  "TF_DeleteSessionOptions",
  "TF_DeleteStatus",
  "TF_DeleteTensor",
  "TF_DeviceListCount",
  "TF_DeviceListName",
  "TF_DeviceListType",
  "TF_Dim",
  "TF_GetCode",
  "TF_GraphOperationByName",
  "TF_LoadSessionFromSavedModel",
  "TF_Message",
  "TF_NewBuffer",
  "TF_NewBufferFromString",
  "TF_NewGraph",
  "TF_NewSessionOptions",
  "TF_NewStatus",
  "TF_NewTensor",
  "TF_NumDims",
  "TF_SessionRun",
  "TF_TensorByteSize",
  "TF_TensorData",
  "TF_TensorElementCount",
  "TF_TensorType",
  "TF_Version",
];

/**
 * Copy of scripts/native-backend/extract-wheel.py (a test keeps them equal). It reads the wheel
 * with Python's zipfile, so no unzip tool is needed and nothing is imported from TensorFlow.
 */
export const EXTRACT_WHEEL_SCRIPT = String.raw`"""Extracts what tfjs-node's native build needs from a TensorFlow wheel, without importing it.

Usage: python3 extract-wheel.py WHEEL DEPS_DIR
       python3 extract-wheel.py --nvidia WHEEL DEPS_DIR   (an nvidia-* CUDA wheel: nvidia/*/lib/*)

Writes DEPS_DIR/lib/<shared libraries> and DEPS_DIR/include/<headers reachable from the headers
that tfjs-node's binding includes>, then prints one JSON line:
{"libraries": [...], "headers": N, "missingHeaders": [...], "cudaRequirements": [...]}.
"""

import json
import os
import re
import shutil
import sys
import zipfile

LIBRARY_MEMBERS = [
    "tensorflow/libtensorflow_cc.so.2",
    "tensorflow/libtensorflow_framework.so.2",
]
# Before TensorFlow 2.12 the C API lives in the Python extension module.
LEGACY_LIBRARY_MEMBER = "tensorflow/python/_pywrap_tensorflow_internal.so"
INCLUDE_PREFIX = "tensorflow/include/"
# The headers that tfjs-node 4.22's binding/*.cc include.
ROOT_HEADERS = [
    "tensorflow/c/c_api.h",
    "tensorflow/c/eager/c_api.h",
    "tensorflow/core/platform/ctstring_internal.h",
]
QUOTED_INCLUDE = re.compile(rb'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)
CUDA_REQUIREMENT = re.compile(r"^Requires-Dist: (nvidia-[A-Za-z0-9_.-]+) ?\(?([^;)]*)\)? ?; extra == .and-cuda.")


def copy_member(archive, member, destination):
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    with archive.open(member) as source, open(destination, "wb") as target:
        shutil.copyfileobj(source, target, 16 * 1024 * 1024)


def extract_nvidia(wheel, deps):
    archive = zipfile.ZipFile(wheel)
    libraries = []
    for member in archive.namelist():
        parts = member.split("/")
        # nvidia/<component>/lib/<file>: TensorFlow's RUNPATH looks in $ORIGIN/../nvidia/<component>/lib.
        if len(parts) == 4 and parts[0] == "nvidia" and parts[2] == "lib" and parts[3]:
            destination = os.path.join(deps, member)
            copy_member(archive, member, destination)
            os.chmod(destination, 0o755)
            libraries.append(member)
    print(json.dumps({"libraries": libraries}))


def main():
    if sys.argv[1] == "--nvidia":
        extract_nvidia(sys.argv[2], sys.argv[3])
        return
    wheel, deps = sys.argv[1], sys.argv[2]
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    members = [member for member in LIBRARY_MEMBERS if member in names]
    if "tensorflow/libtensorflow_cc.so.2" not in names:
        if LEGACY_LIBRARY_MEMBER not in names:
            raise SystemExit(f"{wheel}: neither libtensorflow_cc.so.2 nor {LEGACY_LIBRARY_MEMBER} found")
        members.append(LEGACY_LIBRARY_MEMBER)
    libraries = []
    for member in members:
        destination = os.path.join(deps, "lib", os.path.basename(member))
        copy_member(archive, member, destination)
        os.chmod(destination, 0o755)
        libraries.append(os.path.basename(member))

    pending, seen, missing = list(ROOT_HEADERS), set(), []
    while pending:
        header = pending.pop()
        if header in seen:
            continue
        seen.add(header)
        member = INCLUDE_PREFIX + header
        if member not in names:
            missing.append(header)
            continue
        data = archive.read(member)
        destination = os.path.join(deps, "include", header)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        with open(destination, "wb") as target:
            target.write(data)
        pending.extend(match.decode() for match in QUOTED_INCLUDE.findall(data))

    cuda = []
    metadata = [name for name in names if name.endswith(".dist-info/METADATA")]
    if metadata:
        for line in archive.read(metadata[0]).decode("utf-8", "replace").splitlines():
            match = CUDA_REQUIREMENT.match(line.strip())
            if match:
                cuda.append(match.group(1) + match.group(2).replace(" ", ""))
    print(json.dumps({
        "libraries": libraries,
        "headers": len(seen) - len(missing),
        "missingHeaders": sorted(missing),
        "cudaRequirements": cuda,
    }))


if __name__ == "__main__":
    main()
`;

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
  /** `@tensorflow/tfjs` package directory that the built backend must register into. */
  tfjsPackageDirectory?: string;
  /** Receives one progress line at a time. Default: standard error. */
  log?: (line: string) => void;
  /** Runs external programs; tests inject a fake. */
  runCommand?: RunCommand;
}

/** What `installNativeBackend` built, also written to `medfm-native-backend.json`. */
export interface NativeBackendManifest {
  /** Directory of the built tfjs-node package: the value for `MEDFM_TFJS_NODE_PATH`. */
  packagePath: string;
  /** `@tensorflow/tfjs-node` or `@tensorflow/tfjs-node-gpu`. */
  packageName: string;
  /** TensorFlow version that the binding reported after loading (`TF_Version()`). */
  tensorflowVersion: string;
  /** File name of the wheel the libraries came from. */
  wheel: string;
  /** Whether the GPU wheel and CUDA libraries were used. */
  gpu: boolean;
  /** Shared libraries placed in `deps/lib`. */
  libraries: string[];
  /** `@tensorflow/tfjs` package directory that the binding was checked against. */
  tfjsPackageDirectory: string;
  /** ISO time of the provisioning. */
  provisionedAt: string;
}

/** A provisioning step failed; the message names the step, the program and its output. */
export class NativeBackendError extends Error {
  private readonly marker = Symbol.for("medfm.cli.NativeBackendError");

  constructor(message: string) {
    super(message);
    this.name = "NativeBackendError";
  }

  /** True for any `NativeBackendError`, also one made by another copy of this package. */
  static isInstance(error: unknown): error is NativeBackendError {
    return (
      typeof error === "object" &&
      error !== null &&
      (error as { marker?: unknown }).marker === Symbol.for("medfm.cli.NativeBackendError")
    );
  }
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

/** Names of undefined Python C API symbols in `nm -D -u` output. */
export function undefinedPythonSymbols(nmOutput: string): string[] {
  const symbols = new Set<string>();
  for (const line of nmOutput.split("\n")) {
    const match = /^\s*[Uw]\s+(_?Py[A-Za-z0-9_]*)/.exec(line);
    if (match) symbols.add(match[1]);
  }
  return [...symbols].sort();
}

/** Symbols of `REQUIRED_TENSORFLOW_SYMBOLS` that no `nm -D --defined-only` output defines. */
export function missingTensorflowSymbols(nmOutputs: readonly string[]): string[] {
  const defined = new Set<string>();
  for (const output of nmOutputs) {
    for (const line of output.split("\n")) {
      const name = line.trim().split(/\s+/)[2];
      if (name) defined.add(name.replace(/@.*$/, ""));
    }
  }
  return REQUIRED_TENSORFLOW_SYMBOLS.filter((symbol) => !defined.has(symbol));
}

/** Reads the manifest of a provisioning directory, or `undefined` when none was written. */
export function readNativeBackendManifest(directory: string): NativeBackendManifest | undefined {
  const file = path.join(directory, NATIVE_BACKEND_MANIFEST);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as NativeBackendManifest;
}

/** Directory of the `@tensorflow/tfjs` package that the working directory (or this CLI) loads. */
export function resolveTfjsPackageDirectory(workingDirectory: string): string {
  const candidates = [path.join(workingDirectory, "package.json"), __cliFile()];
  for (const from of candidates) {
    try {
      const packageJson = createRequire(from).resolve("@tensorflow/tfjs/package.json");
      return realpathSync(path.dirname(packageJson));
    } catch {
      // Try the next place; the error below lists both.
    }
  }
  throw new NativeBackendError(
    `@tensorflow/tfjs resolves neither from ${workingDirectory} nor from the medfm CLI; pass --tfjs DIR`,
  );
}

function __cliFile(): string {
  // tsup builds both ESM and CommonJS; each has exactly one of these.
  if (typeof __filename === "string") return __filename;
  return new URL(import.meta.url).pathname;
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
    options.tfjsPackageDirectory ?? resolveTfjsPackageDirectory(process.cwd());
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
  const extractor = path.join(directory, "extract-wheel.py");
  writeFileSync(extractor, EXTRACT_WHEEL_SCRIPT);
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
  const manifest: NativeBackendManifest = {
    packagePath,
    packageName,
    tensorflowVersion: verification.tensorflowVersion,
    wheel,
    gpu,
    libraries: extracted.libraries,
    tfjsPackageDirectory,
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

/** Registers `medfm backend` and its subcommands (`install`, `status`). */
export function registerBackendCommand(program: Command): void {
  const backend = program
    .command("backend")
    .description("Native TensorFlow backend for tfjs, provisioned from PyPI wheels");
  backend
    .command("install")
    .description(
      "Download a TensorFlow wheel with pip, build tfjs-node's binding against it, and verify it",
    )
    .option("--gpu", "use the tensorflow wheel with CUDA/cuDNN wheels and tfjs-node-gpu", false)
    .option("--dir <directory>", "provisioning directory", DEFAULT_NATIVE_DIRECTORY)
    .option("--tf-version <version>", "TensorFlow wheel version", DEFAULT_TENSORFLOW_VERSION)
    .option("--python <executable>", "Python interpreter with pip", "python3")
    .option(
      "--wheel-python-version <version>",
      "Python version tag of the wheel",
      DEFAULT_WHEEL_PYTHON_VERSION,
    )
    .option("--tfjs <directory>", "@tensorflow/tfjs package directory to register into")
    .action(
      async (flags: {
        gpu: boolean;
        dir: string;
        tfVersion: string;
        python: string;
        wheelPythonVersion: string;
        tfjs?: string;
      }) => {
        const manifest = await installNativeBackend({
          directory: flags.dir,
          gpu: flags.gpu,
          tensorflowVersion: flags.tfVersion,
          python: flags.python,
          wheelPythonVersion: flags.wheelPythonVersion,
          tfjsPackageDirectory: flags.tfjs,
        });
        process.stdout.write(`MEDFM_TFJS_NODE_PATH=${manifest.packagePath}\n`);
      },
    );
  backend
    .command("status")
    .description("Show the provisioned native backend, if any")
    .option("--dir <directory>", "provisioning directory", DEFAULT_NATIVE_DIRECTORY)
    .action((flags: { dir: string }) => {
      const manifest = readNativeBackendManifest(path.resolve(flags.dir));
      if (!manifest) {
        process.stdout.write(
          `no native backend in ${path.resolve(flags.dir)}; run: medfm backend install\n`,
        );
        return;
      }
      process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
    });
}
