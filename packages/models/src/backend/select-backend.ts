import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import {
  DEFAULT_NATIVE_DIRECTORY,
  NATIVE_BACKEND_MANIFEST,
  readNativeBackendManifest,
} from "@medfm/native-backend";
import * as tf from "@tensorflow/tfjs";
import { BackendUnavailableError } from "./backend-unavailable-error";
import { registerMedfmKernels } from "./kernel-registry";
import { registerWasmKernels } from "./register-wasm-kernels";
import { maxWasmThreads, registerThreadedWasmBackend, type WasmPackage } from "./threaded-wasm";

/** The tfjs backends `selectBackend` chooses between, best first. */
export type BackendName = "tensorflow" | "wasm" | "cpu";

/** The backend names `selectBackend` accepts, best first. */
export const backendNames: readonly BackendName[] = ["tensorflow", "wasm", "cpu"];

/** A better backend that was tried and not used. */
export interface SkippedBackend {
  /** The tfjs backend it would have given. */
  backend: BackendName;
  /** The package (or path) that was tried. */
  source: string;
  /** Why it was not used: "not installed", or the load error's message. */
  reason: string;
}

/** What `selectBackend` chose and why. */
export interface BackendSelection {
  /** The tfjs backend now active. */
  backend: BackendName;
  /** The package that provides it: `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`, a path, `@tensorflow/tfjs-backend-wasm` or `@tensorflow/tfjs` (cpu). */
  source: string;
  /** Who chose it: the automatic order, the `backend` option or `MEDFM_BACKEND`. */
  chosenBy: "auto" | "option" | "MEDFM_BACKEND";
  /** Better backends that were tried first and skipped, with the reason, best first. */
  skipped: SkippedBackend[];
  /** Threads the backend computes with, where known (wasm). */
  threads?: number;
  /** The line printed about this choice. */
  summary: string;
}

/** Options of `selectBackend`. */
export interface SelectBackendOptions {
  /** Use this backend or fail; overrides `MEDFM_BACKEND`. */
  backend?: BackendName;
  /** Where the one line about the choice goes; default: standard error. */
  log?: (line: string) => void;
  /** Environment to read `MEDFM_BACKEND` and `MEDFM_TFJS_NODE_PATH` from; default `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * Directory whose `.medfm/native` (where `pnpm medfm backend install` provisions by default) is
   * searched when `MEDFM_TFJS_NODE_PATH` is unset; default `process.cwd()`.
   */
  cwd?: string;
  /** Loads a package by name or absolute directory; default: Node's own resolution. Tests pass fakes. */
  importPackage?: (specifier: string) => Promise<unknown>;
  /**
   * Experimental: threads of the wasm backend. 2 to 8 load tfjs's threaded SIMD build (see
   * `registerThreadedWasmBackend`), 1 the single-threaded SIMD build. Default:
   * `MEDFM_WASM_THREADS`, else 1. Takes effect only before wasm first initialises. Known
   * limitation: small graphs run (DenseNet-121 inference at 128 px, batch 2), but DenseNet-121 at
   * 224 px and any training step deadlock with every thread asleep; use 1 thread for real work.
   */
  experimental_wasmThreads?: number;
}

/** How to get the native backend, repeated wherever it is missing. */
export const provisionHint =
  "Provision it with `pnpm medfm backend install` (add `--gpu` for CUDA), which builds tfjs-node " +
  "against TensorFlow from PyPI into ./.medfm/native, found from that directory without further " +
  "setup (elsewhere, set the MEDFM_TFJS_NODE_PATH it prints); or install " +
  "@tensorflow/tfjs-node (or @tensorflow/tfjs-node-gpu) where its libtensorflow download works.";

interface Candidate {
  backend: BackendName;
  source: string;
  /** The package name or absolute directory that is loaded. */
  specifier: string;
  /** Loads the package that registers the backend; throws why it cannot. */
  load: () => Promise<void>;
  /** Threads the active backend uses, where it can say. */
  threads?: () => number;
}

let lastSelection: BackendSelection | undefined;
let lastRequest: string | undefined;
let lastPrinted: string | undefined;

/**
 * Chooses and activates the best tfjs backend here: `tensorflow` from the tfjs-node package
 * directory in `MEDFM_TFJS_NODE_PATH` (what `pnpm medfm backend install` builds), else from the
 * one provisioned in `<cwd>/.medfm/native` (its `medfm-native-backend.json`, else its
 * `node_modules/@tensorflow/tfjs-node-gpu` and `tfjs-node`), then from the npm-resolved
 * `@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node`, then `wasm`, then `cpu`.
 * `options.backend`, else `MEDFM_BACKEND=tensorflow|wasm|cpu`, forces one and
 * throws `BackendUnavailableError` when it cannot load. Prints one line (once per choice) naming
 * the backend and why better ones were skipped. On wasm it registers the training kernels; on
 * every backend, @medfm/models' gradient configs and the kernel table of the chosen backend
 * (`registerMedfmKernels`: TensorFlow ops over the native binding on `tensorflow`, composites of
 * tfjs ops elsewhere).
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendSelection> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const importPackage = options.importPackage ?? defaultImportPackage;
  const fromEnvironment = env.MEDFM_BACKEND?.trim() || undefined;
  const requested = options.backend ?? fromEnvironment;
  if (requested !== undefined && !backendNames.includes(requested as BackendName)) {
    const where = options.backend !== undefined ? "the backend option" : "MEDFM_BACKEND";
    throw new BackendUnavailableError(
      requested,
      `${where} is '${requested}'; expected one of ${backendNames.join(", ")}`,
    );
  }
  const forced = requested as BackendName | undefined;
  const chosenBy: BackendSelection["chosenBy"] =
    forced === undefined ? "auto" : options.backend !== undefined ? "option" : "MEDFM_BACKEND";
  const threads = wasmThreads(options.experimental_wasmThreads, env);
  const cwd = resolve(options.cwd ?? process.cwd());
  const request = `${forced ?? "auto"}|${env.MEDFM_TFJS_NODE_PATH ?? ""}|${cwd}|${threads}`;
  if (
    lastSelection !== undefined &&
    lastRequest === request &&
    tf.getBackend() === lastSelection.backend
  ) {
    return lastSelection;
  }

  const candidates = buildCandidates(env, cwd, importPackage, threads).filter(
    (candidate) => forced === undefined || candidate.backend === forced,
  );
  const skipped: SkippedBackend[] = [];
  for (const candidate of candidates) {
    const reason = await activate(candidate);
    if (reason !== undefined) {
      skipped.push({ backend: candidate.backend, source: candidate.source, reason });
      continue;
    }
    registerMedfmKernels();
    const actualThreads = candidate.threads?.();
    const summary = describe(candidate, chosenBy, skipped, actualThreads);
    const selection: BackendSelection = {
      backend: candidate.backend,
      source: candidate.source,
      chosenBy,
      skipped,
      ...(actualThreads !== undefined ? { threads: actualThreads } : {}),
      summary,
    };
    lastSelection = selection;
    lastRequest = request;
    if (lastPrinted !== summary) {
      lastPrinted = summary;
      log(summary);
    }
    return selection;
  }
  const tried = skipped.map((entry) => `${entry.source}: ${entry.reason}`).join("; ");
  const via = chosenBy === "option" ? "the backend option" : "MEDFM_BACKEND";
  throw new BackendUnavailableError(
    forced ?? "auto",
    `${via} asks for the '${forced}' backend, which cannot load here (${tried}).` +
      (forced === "tensorflow" ? ` ${provisionHint}` : ""),
  );
}

/** tfjs's own wasm backend factory, kept while the threaded one replaces it. */
let tfjsWasmFactory: (() => tf.KernelBackend | Promise<tf.KernelBackend>) | undefined;

/** Whether the wasm backend has been initialised (its build and thread count are then fixed). */
function wasmInitialised(): boolean {
  return (tf.engine().registry as Record<string, unknown>).wasm !== undefined;
}

function wasmThreads(option: number | undefined, env: Record<string, string | undefined>): number {
  const text = env.MEDFM_WASM_THREADS?.trim();
  const value = option ?? (text ? Number(text) : 1);
  if (!Number.isInteger(value) || value < 1 || value > maxWasmThreads) {
    const where =
      option !== undefined ? "the experimental_wasmThreads option" : "MEDFM_WASM_THREADS";
    throw new RangeError(
      `${where} must be an integer from 1 to ${maxWasmThreads}, got '${option ?? text}'`,
    );
  }
  return value;
}

function buildCandidates(
  env: Record<string, string | undefined>,
  cwd: string,
  importPackage: (specifier: string) => Promise<unknown>,
  threads: number,
): Candidate[] {
  const native = (source: string, specifier: string): Candidate => ({
    backend: "tensorflow",
    source,
    specifier,
    load: async () => {
      // libtensorflow logs CPU features and oneDNN notes at startup; keep warnings and errors.
      process.env.TF_CPP_MIN_LOG_LEVEL ??= "1";
      await importPackage(specifier);
    },
  });
  const candidates: Candidate[] = [];
  const nativePath = env.MEDFM_TFJS_NODE_PATH?.trim();
  if (nativePath) {
    const directory = resolve(nativePath);
    candidates.push(native(`MEDFM_TFJS_NODE_PATH=${directory}`, directory));
  } else {
    for (const found of provisionedPackages(cwd)) {
      if (found.error !== undefined) {
        candidates.push({
          ...native(found.source, found.directory),
          load: async () => {
            throw new Error(found.error);
          },
        });
      } else {
        candidates.push(native(found.source, found.directory));
      }
    }
  }
  for (const name of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    candidates.push(native(name, name));
  }
  let wasmPackage: WasmPackage | undefined;
  const loadWasm = async (): Promise<WasmPackage> => {
    wasmPackage ??= (await importPackage("@tensorflow/tfjs-backend-wasm")) as WasmPackage;
    return wasmPackage;
  };
  const wasmThreadsUsed = () => wasmPackage?.getThreadsCount() ?? 1;
  if (threads > 1) {
    candidates.push({
      backend: "wasm",
      source: "@tensorflow/tfjs-backend-wasm (threaded SIMD build)",
      specifier: "@tensorflow/tfjs-backend-wasm",
      load: async () => {
        const wasm = await loadWasm();
        if (!wasmInitialised()) {
          tfjsWasmFactory ??= tf.findBackendFactory("wasm") ?? undefined;
          registerThreadedWasmBackend(threads, wasm);
        }
        registerWasmKernels();
      },
      threads: wasmThreadsUsed,
    });
  }
  candidates.push({
    backend: "wasm",
    source: "@tensorflow/tfjs-backend-wasm",
    specifier: "@tensorflow/tfjs-backend-wasm",
    load: async () => {
      await loadWasm();
      if (!wasmInitialised() && tfjsWasmFactory !== undefined) {
        // Back to tfjs's own single-threaded factory after the threaded one was tried.
        tf.removeBackend("wasm");
        tf.registerBackend("wasm", tfjsWasmFactory, 2);
        tfjsWasmFactory = undefined;
      }
      registerWasmKernels();
    },
    threads: wasmThreadsUsed,
  });
  candidates.push({
    backend: "cpu",
    source: "@tensorflow/tfjs (cpu)",
    specifier: "@tensorflow/tfjs",
    load: async () => {},
  });
  return candidates;
}

/** A tfjs-node package directory provisioned under `<cwd>/.medfm/native`. */
interface ProvisionedPackage {
  /** Absolute package directory. */
  directory: string;
  /** Where it came from, for the printed line. */
  source: string;
  /** Why the manifest could not be used, when it could not. */
  error?: string;
}

/**
 * The packages `pnpm medfm backend install` left in `<cwd>/.medfm/native`: the manifest's
 * `packagePath` first, then `node_modules/@tensorflow/tfjs-node-gpu` and `tfjs-node` where they
 * exist and differ from it.
 */
function provisionedPackages(cwd: string): ProvisionedPackage[] {
  const root = join(cwd, DEFAULT_NATIVE_DIRECTORY);
  const found: ProvisionedPackage[] = [];
  const manifestFile = join(root, NATIVE_BACKEND_MANIFEST);
  try {
    const manifest = readNativeBackendManifest(root);
    if (manifest !== undefined) {
      const directory = manifest.packagePath;
      found.push({ directory, source: `${directory} (from ${manifestFile})` });
    }
  } catch (error) {
    // readNativeBackendManifest's message starts with the file; name it once.
    const reason = firstLine(error).replace(`${manifestFile} `, "");
    found.push({
      directory: manifestFile,
      source: manifestFile,
      error: `cannot use ${manifestFile}: ${reason}`,
    });
  }
  for (const name of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    const directory = join(root, "node_modules", name);
    if (found.some((entry) => entry.directory === directory)) continue;
    if (!existsSync(join(directory, "package.json"))) continue;
    found.push({ directory, source: `${directory} (provisioned in ${root})` });
  }
  return found;
}

/** Loads and activates a candidate; returns why it could not, or undefined on success. */
async function activate(candidate: Candidate): Promise<string | undefined> {
  try {
    await candidate.load();
  } catch (error) {
    if (isNotInstalled(error, candidate.specifier)) {
      return isAbsolute(candidate.specifier) ? "no package there" : "not installed";
    }
    return firstLine(error);
  }
  if (tf.findBackendFactory(candidate.backend) === null) {
    return `loaded, but registered no '${candidate.backend}' backend (a tfjs-core other than 4.x?)`;
  }
  const warn = console.warn;
  // tfjs reports a failed backend initialisation with console.warn and returns false; keep the
  // message for our own line instead of printing it twice.
  let warning = "";
  console.warn = (...parts: unknown[]) => {
    warning += parts.map(String).join(" ");
  };
  try {
    const ready = await tf.setBackend(candidate.backend);
    if (!ready) return firstLine(warning || "initialisation failed");
  } catch (error) {
    return firstLine(error);
  } finally {
    console.warn = warn;
  }
  if (candidate.backend === "cpu") {
    // The cpu backend's first write prints a banner about tfjs-node; our line already says it.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
  return undefined;
}

function describe(
  candidate: Candidate,
  chosenBy: BackendSelection["chosenBy"],
  skipped: SkippedBackend[],
  threads: number | undefined,
): string {
  const why =
    chosenBy === "auto"
      ? skipped.length === 0
        ? "the best available"
        : `skipped ${skipped.map((entry) => `${entry.source} (${entry.reason})`).join(", ")}`
      : `forced by ${chosenBy === "option" ? "the backend option" : "MEDFM_BACKEND"}`;
  const threading = threads === undefined ? "" : ` (${threads} thread${threads === 1 ? "" : "s"})`;
  return `[medfm] tfjs backend: ${candidate.backend}${threading} from ${candidate.source}; ${why}`;
}

/** A missing package itself, as opposed to a missing file or library it needs. */
function isNotInstalled(error: unknown, specifier: string): boolean {
  const code = (error as { code?: string } | null)?.code;
  if (code !== "MODULE_NOT_FOUND" && code !== "ERR_MODULE_NOT_FOUND") return false;
  const message = String((error as Error).message);
  return message.includes(`'${specifier}'`) || message.includes(`"${specifier}"`);
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n").find((line) => line.trim() !== "") ?? text;
}

async function defaultImportPackage(specifier: string): Promise<unknown> {
  if (isAbsolute(specifier)) {
    // A package directory outside node_modules resolution (MEDFM_TFJS_NODE_PATH): require it
    // from itself, so its own @tensorflow/tfjs copy resolves; tfjs-core's engine is global, so
    // the backend it registers is the one our tfjs uses.
    return createRequire(join(specifier, "package.json"))(specifier);
  }
  return import(/* @vite-ignore */ specifier);
}

/** Forgets the remembered choice, so the next `selectBackend` call selects and prints again. */
export function resetBackendSelection(): void {
  lastSelection = undefined;
  lastRequest = undefined;
  lastPrinted = undefined;
}
