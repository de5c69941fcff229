import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/**
 * Spawns testing/logging-child.ts (or another script of testing/); `waitFor` resolves when its
 * output matches. Test-only.
 */
export function spawnLogger(
  args: string[],
  script = "logging-child.ts",
): {
  process: ChildProcess;
  waitFor: (pattern: RegExp) => Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const child = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const processHandle = spawn(process.execPath, ["--import", "tsx", child, ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const waiters: { pattern: RegExp; resolve: (match: RegExpMatchArray) => void }[] = [];
  processHandle.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of [...waiters]) {
      const match = output.match(waiter.pattern);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  });
  let errors = "";
  processHandle.stderr?.on("data", (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    processHandle.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    process: processHandle,
    exited,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const match = output.match(pattern);
        if (match) return resolve(match);
        waiters.push({ pattern, resolve });
        void exited.then(() =>
          setTimeout(
            () => reject(new Error(`child exited before ${pattern}: ${output}\n${errors}`)),
            50,
          ),
        );
      }),
  };
}
