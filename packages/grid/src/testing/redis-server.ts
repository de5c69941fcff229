import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Whether Debian's `redis-server` is on the PATH (`.ci/run` installs it). */
export const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0;

/** A free TCP port on 127.0.0.1, so tests do not collide with a Redis on 6379. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A `redis-server` a test started: its URL, and stop and restart on the same port and data. */
export interface TestRedisServer {
  url: string;
  port: number;
  /** The folder of its append-only file. */
  dir: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

async function waitForPing(port: number): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const answer = spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" });
    if (answer.stdout?.trim() === "PONG") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING`);
}

/**
 * Starts `redis-server` on a free port of 127.0.0.1 with its append-only file on (fsync every
 * write) in a temporary folder, as `scripts/redis/start.sh` does for CI.
 */
export async function startTestRedis(): Promise<TestRedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "medfm-redis-"));
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
      ],
      { stdio: "ignore" },
    );
    await waitForPing(port);
  };
  const stop = async () => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once("exit", () => resolve());
      running.kill("SIGTERM");
    });
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
  };
}
