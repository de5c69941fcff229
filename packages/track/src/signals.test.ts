import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readRun } from "./read-run";
import { spawnLogger } from "./testing/spawn-logger";

describe("a run in another process", () => {
  it("SIGTERM flushes the journal and ends the run as killed", async () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-track-signal-"));
    const logger = spawnLogger([root, "-", "100000000", "1000", "no", "no"]);
    const [, , path] = await logger.waitFor(/RUN (\S+) (\S+)/);
    const [, logged] = await logger.waitFor(/LOGGED (2\d{4})/);
    logger.process.kill("SIGTERM");
    const { code } = await logger.exited;
    expect(code).toBe(143);
    const stored = readRun(path);
    expect(stored.status).toBe("killed");
    // Everything appended before the signal, none waited for, is in the journal.
    expect(stored.series["train/loss"].length).toBeGreaterThanOrEqual(Number(logged));
    const steps = stored.series["train/loss"].map((point) => point.step);
    expect(steps).toEqual(steps.map((_, index) => index));
  });

  it("an application's own SIGINT handler keeps the run open to log final values", async () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-track-sigint-"));
    const logger = spawnLogger([root, "-", "100000000", "1000", "no", "no", "handle-sigint"]);
    const [, , path] = await logger.waitFor(/RUN (\S+) (\S+)/);
    await logger.waitFor(/LOGGED (1\d{4})/);
    logger.process.kill("SIGINT");
    await logger.waitFor(/INTERRUPTED/);
    expect((await logger.exited).code).toBe(130);
    const stored = readRun(path);
    expect(stored.status).toBe("failed");
    expect(stored.values["train/interrupted_at"]).toBe(stored.series["train/loss"].length);
  });

  it("an application that took the signals over keeps the run after its listener is gone", async () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-track-takeover-"));
    const logger = spawnLogger([root, "-", "100000000", "1000", "no", "no", "take-over"]);
    const [, , path] = await logger.waitFor(/RUN (\S+) (\S+)/);
    await logger.waitFor(/LOGGED (1\d{4})/);
    // The child's listener removes itself on this signal, before the loop sees the flag: without
    // the take-over, @medfm/track saw no other listener, stopped the run and exited at once.
    logger.process.kill("SIGINT");
    await logger.waitFor(/INTERRUPTED/);
    expect((await logger.exited).code).toBe(130);
    const stored = readRun(path);
    expect(stored.status).toBe("killed");
    expect(stored.values["train/interrupted_at"]).toBe(stored.series["train/loss"].length);
  });

  it("process.exit with a run open journals every point and the stop", async () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-track-hard-exit-"));
    const logger = spawnLogger([root, "-", "100000000", "1000", "no", "no", "take-over-exit"]);
    const [, , path] = await logger.waitFor(/RUN (\S+) (\S+)/);
    const [, logged] = await logger.waitFor(/LOGGED (1\d{4})/);
    logger.process.kill("SIGINT");
    expect((await logger.exited).code).toBe(130);
    const stored = readRun(path);
    expect(stored.status).toBe("killed");
    expect(stored.series["train/loss"].length).toBeGreaterThanOrEqual(Number(logged));
    const steps = stored.series["train/loss"].map((point) => point.step);
    expect(steps).toEqual(steps.map((_, index) => index));
  });

  it("a run never stopped is flushed and finished at exit", async () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-track-exit-"));
    const logger = spawnLogger([root, "-", "25000", "5000", "no", "no"]);
    const [, , path] = await logger.waitFor(/RUN (\S+) (\S+)/);
    expect((await logger.exited).code).toBe(0);
    const stored = readRun(path);
    expect(stored.status).toBe("finished");
    expect(stored.series["train/loss"]).toHaveLength(25000);
  });
});
