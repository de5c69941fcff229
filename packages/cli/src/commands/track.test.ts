import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { initRun, mlflow, readRun } from "@medfm/track";
import { afterEach, describe, expect, it } from "vitest";
import { runMedfm } from "../testing/run-medfm";

/** A localhost port where nothing listens. */
async function refusedUri(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** The MLflow test server started by scripts/mlflow/start.sh, if one answers. */
async function mlflowUri(): Promise<string | undefined> {
  const file = fileURLToPath(new URL("../../../../.cache/mlflow/uri", import.meta.url));
  const uri =
    process.env.MEDFM_TEST_MLFLOW_URI ??
    (existsSync(file) ? readFileSync(file, "utf8").trim() : "");
  if (!uri) return undefined;
  try {
    return (await fetch(`${uri}/health`, { signal: AbortSignal.timeout(3000) })).ok
      ? uri
      : undefined;
  } catch {
    return undefined;
  }
}

const server = await mlflowUri();
if (!server)
  console.warn(
    "medfm track sync against MLflow skipped: no MLflow test server (scripts/mlflow/start.sh)",
  );

describe("medfm track sync", () => {
  afterEach(() => {
    process.exitCode = undefined;
  });

  it("says a file-backend run has no server to go to", async () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-cli-track-"));
    const run = initRun({ root, backend: "file" });
    run["train/loss"].append(1);
    await run.stop();
    const out = await runMedfm(["track", "sync", "--path", run.path as string]);
    expect(out).toContain(`${run.id}: skipped, no server URI`);
  });

  it("reports a failed sync and exits non-zero, leaving the run for the next sync", async () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-cli-track-"));
    const uri = await refusedUri();
    const run = initRun({ root, mode: "offline", backend: mlflow({ uri }) });
    run["train/loss"].append(1);
    await run.stop();
    const out = await runMedfm(["track", "sync", "--path", root, "--max-retries", "0"]);
    expect(out).toMatch(new RegExp(`${run.id}: sync failed: .*ECONNREFUSED`));
    expect(out).toContain("0 run(s) synced, 1 failed");
    expect(process.exitCode).toBe(1);
  });

  it("reports a run with a broken journal and goes on with the others", async () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-cli-track-"));
    const uri = await refusedUri();
    const before = initRun({ root, mode: "offline", backend: mlflow({ uri }) });
    before["train/loss"].append(1);
    await before.stop();
    // Created between the two, so listed between them: a journal cut short in its header.
    const broken = join(root, "broken-run");
    mkdirSync(broken);
    writeFileSync(join(broken, "journal.jsonl"), '{"format":"medfm-track-journal","vers');
    const after = initRun({ root, mode: "offline", backend: mlflow({ uri }) });
    after["train/loss"].append(2);
    await after.stop();
    const out = await runMedfm(["track", "sync", "--path", root, "--max-retries", "0"]);
    expect(out).toMatch(new RegExp(`${broken}: cannot sync: .*journal\\.jsonl`));
    for (const run of [before, after]) {
      expect(out).toMatch(new RegExp(`${run.id}: sync failed: .*ECONNREFUSED`));
    }
    expect(out).toContain("0 run(s) synced, 3 failed");
    expect(process.exitCode).toBe(1);
  });

  it.skipIf(!server)("uploads offline runs under a root once", async () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-cli-track-"));
    const project = `medfm-cli-sync-${process.pid}-${Date.now()}`;
    const ids: string[] = [];
    for (let index = 0; index < 2; index += 1) {
      const run = initRun({ root, project, mode: "offline", backend: mlflow({ uri: server }) });
      run["params/index"] = index;
      run["train/loss"].extend([3, 2, 1]);
      await run.stop();
      ids.push(run.id);
    }
    const out = await runMedfm(["track", "sync", "--path", root]);
    for (const id of ids)
      expect(out).toMatch(new RegExp(`${id}: 6 items, 0 files -> mlflow .* \\(finished\\)`));
    expect(out).toContain("2 run(s) synced, 0 failed");
    const again = await runMedfm(["track", "sync", "--path", root]);
    expect(again).toContain("0 run(s) synced, 0 failed");
    expect(readRun(join(root, ids[0])).series["train/loss"]).toHaveLength(3);
  });
});
