import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { nativeBackendAssetPath } from "./assets";
import { napiBuildVersion, pythonStubSource } from "./install";
import { MEDFM_OPS } from "./medfm-ops";
import {
  ASYNC_BINDING_SYMBOLS,
  missingTensorflowSymbols,
  REQUIRED_TENSORFLOW_SYMBOLS,
  undefinedPythonSymbols,
} from "./symbols";

const kernelsSource = readFileSync(nativeBackendAssetPath("medfm_kernels.cc"), "utf8");
// tfjs-node 4.22's binding sources, where `medfm backend install` has run in this checkout
// (unpatched copies sit beside patched ones as FILE.medfm-orig).
const provisionedBinding = fileURLToPath(
  new URL("../../../.medfm/native/node_modules/@tensorflow/tfjs-node/binding", import.meta.url),
);
const hasPython = spawnSync("python3", ["--version"]).status === 0;
const hasCompiler = spawnSync("cc", ["--version"]).status === 0;
const workDirectory = mkdtempSync(path.join(tmpdir(), "medfm-backend-test-"));

afterAll(() => {
  rmSync(workDirectory, { recursive: true, force: true });
});

/** Writes a zip with the given members using Python's zipfile, as a stand-in TensorFlow wheel. */
function writeWheel(file: string, members: Record<string, string>): void {
  const result = spawnSync(
    "python3",
    [
      "-c",
      "import json, sys, zipfile\n" +
        "z = zipfile.ZipFile(sys.argv[1], 'w')\n" +
        "[z.writestr(name, data) for name, data in json.load(sys.stdin).items()]\n" +
        "z.close()",
      file,
    ],
    { input: JSON.stringify(members) },
  );
  expect(result.status, String(result.stderr)).toBe(0);
}

function runExtractor(args: string[]): Record<string, unknown> {
  const extractor = nativeBackendAssetPath("extract-wheel.py");
  const result = spawnSync("python3", [extractor, ...args], { encoding: "utf8" });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe("assets/extract-wheel.py", () => {
  it.runIf(hasPython)(
    "copies the libraries and only the headers the C API includes, and reads the CUDA pins",
    () => {
      const wheel = path.join(workDirectory, "tensorflow-2.99.0-cp310-none-any.whl");
      writeWheel(wheel, {
        "tensorflow/libtensorflow_cc.so.2": "cc",
        "tensorflow/libtensorflow_framework.so.2": "framework",
        "tensorflow/python/_pywrap_tensorflow_internal.so": "unused when libtensorflow_cc exists",
        "tensorflow/include/tensorflow/c/c_api.h":
          '#include <stdint.h>\n#include "tensorflow/c/tf_status.h"\n',
        "tensorflow/include/tensorflow/c/tf_status.h": '#include "xla/tsl/c/tsl_status.h"\n',
        "tensorflow/include/xla/tsl/c/tsl_status.h": "/* leaf */\n",
        "tensorflow/include/tensorflow/c/eager/c_api.h":
          '  #  include "tensorflow/c/c_api.h"\n#include "tensorflow/c/not_shipped.h"\n',
        "tensorflow/include/tensorflow/core/platform/ctstring_internal.h": "/* leaf */\n",
        "tensorflow/include/Eigen/Core": "not reachable from the C API",
        "tensorflow-2.99.0.dist-info/METADATA": [
          "Name: tensorflow",
          "Requires-Dist: numpy>=1.26",
          "Requires-Dist: nvidia-cudnn-cu12 ==9.3.0.75 ; extra == 'and-cuda'",
          'Requires-Dist: nvidia-cublas-cu12<13.0,>=12.5.3.2; extra == "and-cuda"',
        ].join("\n"),
      });
      const deps = path.join(workDirectory, "deps");
      const report = runExtractor([wheel, deps]);
      expect(report).toEqual({
        libraries: ["libtensorflow_cc.so.2", "libtensorflow_framework.so.2"],
        headers: 5,
        missingHeaders: ["tensorflow/c/not_shipped.h"],
        cudaRequirements: ["nvidia-cudnn-cu12==9.3.0.75", "nvidia-cublas-cu12<13.0,>=12.5.3.2"],
      });
      expect(readdirSync(path.join(deps, "lib")).sort()).toEqual([
        "libtensorflow_cc.so.2",
        "libtensorflow_framework.so.2",
      ]);
      expect(readFileSync(path.join(deps, "include/xla/tsl/c/tsl_status.h"), "utf8")).toBe(
        "/* leaf */\n",
      );
      expect(existsSync(path.join(deps, "include/Eigen/Core"))).toBe(false);
    },
  );

  it.runIf(hasPython)("falls back to _pywrap_tensorflow_internal.so before TensorFlow 2.12", () => {
    const wheel = path.join(workDirectory, "tensorflow_cpu-2.9.1-cp310-none-any.whl");
    writeWheel(wheel, {
      "tensorflow/libtensorflow_framework.so.2": "framework",
      "tensorflow/python/_pywrap_tensorflow_internal.so": "the C API lives here",
    });
    const report = runExtractor([wheel, path.join(workDirectory, "deps-legacy")]);
    expect(report.libraries).toEqual([
      "libtensorflow_framework.so.2",
      "_pywrap_tensorflow_internal.so",
    ]);
    expect(report.missingHeaders).toEqual([
      "tensorflow/c/c_api.h",
      "tensorflow/c/eager/c_api.h",
      "tensorflow/core/platform/ctstring_internal.h",
    ]);
  });

  it.runIf(hasPython)("takes only nvidia/<component>/lib/* from a CUDA wheel", () => {
    const wheel = path.join(workDirectory, "nvidia_cudnn_cu12-9.3.0.75-py3-none-any.whl");
    writeWheel(wheel, {
      "nvidia/cudnn/lib/libcudnn.so.9": "cudnn",
      "nvidia/cudnn/include/cudnn.h": "header",
      "nvidia/__init__.py": "",
    });
    const deps = path.join(workDirectory, "deps-gpu");
    expect(runExtractor(["--nvidia", wheel, deps])).toEqual({
      libraries: ["nvidia/cudnn/lib/libcudnn.so.9"],
    });
    expect(existsSync(path.join(deps, "nvidia/cudnn/include/cudnn.h"))).toBe(false);
  });
});

function runPatcher(args: string[]): { status: number | null; output: string } {
  const patcher = nativeBackendAssetPath("patch-binding.py");
  const result = spawnSync("python3", [patcher, ...args], { encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("assets/patch-binding.py", () => {
  it.runIf(hasPython)(
    "refuses sources that are not tfjs-node 4.22's and leaves them as they were",
    () => {
      const binding = path.join(workDirectory, "package-other", "binding");
      mkdirSync(binding, { recursive: true });
      writeFileSync(path.join(binding, "tfjs_backend.h"), "#include <unordered_map>\n");
      writeFileSync(path.join(binding, "tfjs_backend.cc"), "// another version\n");
      writeFileSync(path.join(binding, "tfjs_binding.cc"), "// another version\n");
      writeFileSync(path.join(binding, "..", "binding.gyp"), "{}\n");
      const result = runPatcher([binding]);
      expect(result.status).not.toBe(0);
      expect(result.output).toMatch(
        /tfjs_backend\.h: edit 2 expects its anchor once, found it 0 times/,
      );
      expect(readFileSync(path.join(binding, "tfjs_backend.h"), "utf8")).toBe(
        "#include <unordered_map>\n",
      );
      expect(readdirSync(binding).sort()).toEqual([
        "tfjs_backend.cc",
        "tfjs_backend.h",
        "tfjs_binding.cc",
      ]);
      expect(readdirSync(path.dirname(binding)).sort()).toEqual(["binding", "binding.gyp"]);
    },
  );

  it.runIf(hasPython && existsSync(path.join(provisionedBinding, "tfjs_backend.cc")))(
    "patches tfjs-node 4.22's binding once, adds the kernels, and --revert restores it byte for byte",
    () => {
      const binding = path.join(workDirectory, "package-4.22", "binding");
      mkdirSync(binding, { recursive: true });
      const original: Record<string, string> = {};
      for (const file of [
        "tfjs_backend.h",
        "tfjs_backend.cc",
        "tfjs_binding.cc",
        "../binding.gyp",
      ]) {
        const provisioned = path.join(provisionedBinding, file);
        const pristine = `${provisioned}.medfm-orig`;
        original[file] = readFileSync(existsSync(pristine) ? pristine : provisioned, "utf8");
        writeFileSync(path.join(binding, file), original[file]);
      }
      expect(runPatcher([binding]).output.trim()).toBe("patched");
      const patched = readFileSync(path.join(binding, "tfjs_backend.cc"), "utf8");
      expect(patched).toContain("TFE_ContextOptionsSetAsync(tfe_options, async_ ? 1 : 0);");
      const module = readFileSync(path.join(binding, "tfjs_binding.cc"), "utf8");
      expect(module).toContain('AssignIntProperty(env, exports, "medfmKernels"');
      expect(readFileSync(path.join(binding, "..", "binding.gyp"), "utf8")).toContain(
        "'binding/medfm_kernels.cc'",
      );
      const kernels = readFileSync(path.join(binding, "medfm_kernels.cc"), "utf8");
      expect(kernels).toBe(kernelsSource);
      // Every C API function the patched sources declare or call is checked for beforehand.
      for (const symbol of ASYNC_BINDING_SYMBOLS) {
        expect(`${patched}${module}${kernels}`).toContain(symbol);
      }
      expect(runPatcher([binding]).output.trim()).toBe("already patched");
      expect(runPatcher(["--revert", binding]).output.trim()).toBe("reverted");
      for (const file of Object.keys(original)) {
        expect(readFileSync(path.join(binding, file), "utf8")).toBe(original[file]);
      }
      expect(existsSync(path.join(binding, "medfm_kernels.cc"))).toBe(false);
    },
  );
});

describe("symbol checks", () => {
  it("names the required symbols that no library defines, ignoring symbol versions", () => {
    const present = REQUIRED_TENSORFLOW_SYMBOLS.filter((symbol) => symbol !== "TFE_Execute").map(
      (symbol) => `0000000000001000 T ${symbol}@@tensorflow`,
    );
    const half = Math.floor(present.length / 2);
    expect(
      missingTensorflowSymbols([present.slice(0, half).join("\n"), present.slice(half).join("\n")]),
    ).toEqual(["TFE_Execute"]);
  });

  it("checks another list when given one, as for the asynchronous binding", () => {
    const nm = ASYNC_BINDING_SYMBOLS.filter((symbol) => symbol !== "TFE_InferShapes")
      .map((symbol) => `0000000000001000 T ${symbol}@@tensorflow`)
      .join("\n");
    expect(missingTensorflowSymbols([nm], ASYNC_BINDING_SYMBOLS)).toEqual(["TFE_InferShapes"]);
  });

  it("lists the Python symbols a library leaves undefined", () => {
    const nm = [
      "                 U PyTuple_Type",
      "                 U _Py_NoneStruct",
      "                 w PyGILState_Check",
      "                 U memcpy@GLIBC_2.14",
      "                 U PyTuple_Type",
    ].join("\n");
    expect(undefinedPythonSymbols(nm)).toEqual([
      "PyGILState_Check",
      "PyTuple_Type",
      "_Py_NoneStruct",
    ]);
  });

  it.runIf(hasCompiler)("builds a stub library that defines each Python symbol", () => {
    const source = path.join(workDirectory, "stub.c");
    const library = path.join(workDirectory, "libstub.so");
    writeFileSync(source, pythonStubSource(["PyTuple_Type", "_Py_NoneStruct"]));
    const compiled = spawnSync("cc", ["-shared", "-fPIC", "-o", library, source], {
      encoding: "utf8",
    });
    expect(compiled.status, compiled.stderr).toBe(0);
    const symbols = spawnSync("nm", ["-D", "--defined-only", library], { encoding: "utf8" }).stdout;
    expect(symbols).toMatch(/ T PyTuple_Type$/m);
    expect(symbols).toMatch(/ T _Py_NoneStruct$/m);
    expect(() => pythonStubSource(["Py_x; system()"])).toThrow(/Py_x; system\(\)/);
  });
});

describe("napiBuildVersion", () => {
  it("picks the highest version both tfjs-node and this Node.js support", () => {
    expect(napiBuildVersion([3, 4, 5, 6, 7, 8], 9)).toBe(8);
    expect(napiBuildVersion([3, 4, 5, 6, 7, 8], 6)).toBe(6);
    expect(() => napiBuildVersion([7, 8], 5)).toThrow(/5.*7, 8/);
  });
});

describe("MEDFM_OPS", () => {
  it("declares each op as medfm_kernels.cc registers it", () => {
    // The C++ op table: {"Name", {attrs}, inputs, {outputs}, ...}; inputs of the batch-norm ops
    // are shared vectors, so every declared spec must occur in the source and each op's name must
    // open an entry of the table.
    const registered = [...kernelsSource.matchAll(/^\s*\{"(Medfm[A-Za-z0-9]+)",$/gm)].map(
      (match) => match[1],
    );
    expect(registered).toEqual(Object.values(MEDFM_OPS).map((op) => op.name));
    for (const op of Object.values(MEDFM_OPS)) {
      for (const spec of [...op.attrs, ...op.inputs, ...op.outputs]) {
        expect(kernelsSource, `${op.name}: ${spec}`).toContain(`"${spec}"`);
      }
    }
    const entry = (name: string) =>
      kernelsSource.slice(kernelsSource.indexOf(`{"${name}",`)).split("Shapes,")[0];
    expect(entry("MedfmApplyMomentum")).toContain(
      MEDFM_OPS.applyMomentum.outputs.map((o) => `"${o}"`).join(", "),
    );
    expect(entry("MedfmBatchNormReluGradAdd")).toContain("accumulate_inputs");
    expect(kernelsSource).toContain(
      `accumulate_inputs.insert(accumulate_inputs.end(), {${MEDFM_OPS.batchNormReluGradAdd.inputs
        .slice(6)
        .map((i) => `"${i}"`)
        .join(", ")}});`,
    );
  });
});
