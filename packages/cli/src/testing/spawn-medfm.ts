import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const bin = fileURLToPath(new URL("../bin.ts", import.meta.url));
const tsxLoader = new URL("node_modules/tsx/dist/loader.mjs", `file://${repoRoot}`).href;

/** A `medfm` child process started by {@link spawnMedfm}. Test-only. */
export interface MedfmChild {
  process: ChildProcess;
  /** Resolves when stdout and stderr together match `pattern`; rejects if the child exits first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  /** The exit code or signal, with everything the child printed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>;
}

/**
 * Runs `medfm ARGS` as a real child process (tsx over the sources, `@medfm/*` resolved to the
 * packages' sources by tsconfig.dev.json) in `cwd`, with `env` added to this process's
 * environment. For tests that need a process of its own: signals, exit codes, locks.
 */
export function spawnMedfm(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): MedfmChild {
  const child = spawn(process.execPath, ["--import", tsxLoader, bin, ...args], {
    cwd: options.cwd,
    env: {
      ...process.env,
      TSX_TSCONFIG_PATH: `${repoRoot}tsconfig.dev.json`,
      CI: "true",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const waiters: { pattern: RegExp; resolve: (match: RegExpMatchArray) => void }[] = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of [...waiters]) {
      const match = output.match(waiter.pattern);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    output: string;
  }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, output })));
  return {
    process: child,
    exited,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const match = output.match(pattern);
        if (match) return resolve(match);
        waiters.push({ pattern, resolve });
        void exited.then(() => {
          const late = output.match(pattern);
          if (late) resolve(late);
          else reject(new Error(`medfm exited before printing ${pattern}:\n${output}`));
        });
      }),
  };
}
