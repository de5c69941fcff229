import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { SeriesPoint } from "./fields";
import { initRun } from "./init-run";
import { readRun } from "./read-run";
import { spawnLogger } from "./testing/spawn-logger";
import { FieldTypeError, RunBusyError, RunModeError, TrackError } from "./track-error";

function tempRoot(): string {
  return mkdtempSync(join(tmpdir(), "medfm-track-"));
}

describe("initRun with the file backend", () => {
  it("stores params, nested params, series, tags and reads them back", async () => {
    const root = tempRoot();
    const run = initRun({ root, project: "chest", name: "baseline", tags: ["densenet"] });
    run["params/lr"] = 0.1;
    run.params = { optimizer: "sgd", schedule: { warmup: 5, cosine: true } };
    run["data/started"] = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    const losses = [0.69, 0.52, 0.41, 0.4];
    for (const loss of losses) run["train/loss"].append(loss);
    run["val/mAP"].append(0.31, { step: 10, timestamp: 1_700_000_000_000 });
    run["val/mAP"].extend([0.4, 0.45], { steps: [20, 30] });
    run["train/notes"].append("epoch 1 done");
    run["sys/tags"].add(["chest", "densenet"]);
    await run.stop();

    expect(run.path).toBe(join(root, run.id));
    const stored = readRun(run.path as string);
    expect(stored.id).toBe(run.id);
    expect(stored.project).toBe("chest");
    expect(stored.status).toBe("finished");
    expect(stored.params).toEqual({
      lr: 0.1,
      optimizer: "sgd",
      "schedule/warmup": 5,
      "schedule/cosine": true,
    });
    expect(stored.values["sys/name"]).toBe("baseline");
    expect(stored.values["data/started"]).toEqual(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)));
    expect(stored.fieldTypes["params/lr"]).toBe("float");
    expect(stored.fieldTypes["params/schedule/warmup"]).toBe("int");
    expect(stored.fieldTypes["train/loss"]).toBe("floatSeries");
    expect(stored.fieldTypes["train/notes"]).toBe("stringSeries");
    expect(stored.series["train/loss"].map((point) => point.value)).toEqual(losses);
    expect(stored.series["train/loss"].map((point) => point.step)).toEqual([0, 1, 2, 3]);
    expect(stored.series["val/mAP"].map((point) => [point.step, point.value])).toEqual([
      [10, 0.31],
      [20, 0.4],
      [30, 0.45],
    ]);
    expect(stored.series["val/mAP"][0].timestamp).toBe(1_700_000_000_000);
    expect(stored.tags).toEqual(["chest", "densenet"]);
  });

  it("rejects a write of another type to an existing field, naming the path", () => {
    const run = initRun({ root: tempRoot() });
    run["params/lr"] = 0.1;
    expect(() => {
      run["params/lr"] = "fast";
    }).toThrow(/params\/lr: field is float; cannot assign a string/);
    run["train/loss"].append(1);
    expect(() => run["train/loss"].append("high")).toThrow(FieldTypeError);
    expect(() => run["train/loss"].add("x")).toThrow(/train\/loss: field is floatSeries/);
    run["params/epochs"] = 10;
    expect(run["params/epochs"].type()).toBe("int");
    expect(() => {
      run["params/epochs"] = true;
    }).toThrow(/params\/epochs: field is int; cannot assign a bool/);
    // Numbers widen: an integer into a float field stays a float, a fraction makes an int a float.
    run["params/lr"] = 1;
    expect(run["params/lr"].type()).toBe("float");
    run["params/epochs"] = 2.5;
    expect(run["params/epochs"].type()).toBe("float");
    expect(() => {
      run["params/none"] = undefined;
    }).toThrow(/params\/none: cannot assign undefined/);
    expect(TrackError.isInstance(new FieldTypeError("a", "b"))).toBe(true);
    expect(TrackError.isInstance(new Error("x"))).toBe(false);
  });

  it("keeps NaN and the infinities in series and values", async () => {
    const run = initRun({ root: tempRoot() });
    run["train/loss"].extend([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.5]);
    run["val/best"] = Number.POSITIVE_INFINITY;
    await run.stop();
    const stored = readRun(run.path as string);
    expect(stored.series["train/loss"].map((point) => point.value)).toEqual([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      0.5,
    ]);
    expect(stored.values["val/best"]).toBe(Number.POSITIVE_INFINITY);
  });

  it("writes a versioned JSON-lines journal with contiguous sequence numbers", async () => {
    const run = initRun({ root: tempRoot() });
    run["metrics/a"] = 1;
    run["metrics/b"].append(2);
    await run.wait();
    run["metrics/c"] = "three";
    run["metrics/b"].append(4);
    await run.stop();
    const lines = readFileSync(join(run.path as string, "journal.jsonl"), "utf8")
      .trim()
      .split("\n");
    const header = JSON.parse(lines[0]);
    expect(header).toMatchObject({ format: "medfm-track-journal", version: 1, runId: run.id });
    const seqs = lines.slice(1).map((line) => JSON.parse(line).seq);
    expect(seqs).toEqual(seqs.map((_, index) => index + 1));
    expect(JSON.parse(lines.at(-1) as string)).toMatchObject({ op: "stop", status: "finished" });
  });

  it("ignores a torn last line and reports it", async () => {
    const run = initRun({ root: tempRoot() });
    run["train/loss"].extend([1, 2, 3]);
    await run.wait();
    appendFileSync(join(run.path as string, "journal.jsonl"), '{"seq":99,"op":"log","pa');
    const stored = readRun(run.path as string);
    expect(stored.tornTail).toBe(true);
    expect(stored.series["train/loss"]).toHaveLength(3);
  });

  it("names the file and line of a malformed journal line", async () => {
    const run = initRun({ root: tempRoot() });
    run["metrics/a"] = 1;
    await run.stop();
    const file = join(run.path as string, "journal.jsonl");
    const lines = readFileSync(file, "utf8").split("\n");
    lines.splice(2, 0, "not json");
    writeFileSync(file, lines.join("\n"));
    expect(() => readRun(run.path as string)).toThrow(/journal\.jsonl:3: malformed line/);
  });

  it("rejects writes after stop() and in read-only mode; read-only fetches", async () => {
    const root = tempRoot();
    const run = initRun({ root });
    run["params/lr"] = 0.01;
    run["train/loss"].extend([3, 2]);
    await run.stop();
    expect(() => run["train/loss"].append(1)).toThrow(RunModeError);
    const reader = initRun({ root, id: run.id, mode: "read-only" });
    expect(reader["params/lr"].fetch()).toBe(0.01);
    expect(reader["train/loss"].fetchValues().map((point: SeriesPoint) => point.value)).toEqual([
      3, 2,
    ]);
    expect(() => {
      reader["params/lr"] = 0.2;
    }).toThrow(/read-only/);
    expect(() => reader["train/loss"].append(1)).toThrow(/read-only/);
  });

  it("resumes a crashed run by id, continuing steps and keeping field types", async () => {
    const root = tempRoot();
    const first = initRun({ root });
    first["train/loss"].extend([5, 4]);
    first["params/lr"] = 0.1;
    expect(() => initRun({ root, id: first.id })).toThrow(/is open in this process/);
    await first.stop();
    expect(() => initRun({ root, id: first.id })).toThrow(/is finished; it cannot be resumed/);
    // A crash leaves no stop line: cut it off.
    const file = join(first.path as string, "journal.jsonl");
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    writeFileSync(file, `${lines.slice(0, -1).join("\n")}\n`);
    const resumed = initRun({ root, id: first.id });
    resumed["train/loss"].append(3);
    expect(() => {
      resumed["params/lr"] = "x";
    }).toThrow(FieldTypeError);
    await resumed.stop();
    const stored = readRun(resumed.path as string);
    expect(stored.status).toBe("finished");
    expect(stored.series["train/loss"].map((point) => [point.step, point.value])).toEqual([
      [0, 5],
      [1, 4],
      [2, 3],
    ]);
  });

  it("journals and fsyncs each operation at once in sync mode", () => {
    const run = initRun({ root: tempRoot(), mode: "sync", flushIntervalMs: 60_000 });
    run["params/lr"] = 0.1;
    run["train/loss"].append(0.5);
    const stored = readRun(run.path as string);
    expect(stored.params.lr).toBe(0.1);
    expect(stored.series["train/loss"]).toHaveLength(1);
    void run.stop();
  });

  it("stores nothing in debug mode but still answers fetch", async () => {
    const root = tempRoot();
    const run = initRun({ root, mode: "debug" });
    run["params/lr"] = 0.5;
    run["train/loss"].extend([1, 2]);
    await run.stop();
    expect(run.path).toBeUndefined();
    expect(readdirSync(root)).toEqual([]);
    expect(run["params/lr"].fetch()).toBe(0.5);
    expect(run["train/loss"].fetchValues().map((point: SeriesPoint) => point.value)).toEqual([
      1, 2,
    ]);
  });

  it("takes the mode from MEDFM_TRACK_MODE and rejects an unknown one", async () => {
    const saved = process.env.MEDFM_TRACK_MODE;
    try {
      process.env.MEDFM_TRACK_MODE = "offline";
      const run = initRun({ root: tempRoot() });
      expect(run.mode).toBe("offline");
      await run.stop();
      process.env.MEDFM_TRACK_MODE = "fast";
      expect(() => initRun({ root: tempRoot() })).toThrow(
        /unknown mode "fast" \(from MEDFM_TRACK_MODE\)/,
      );
    } finally {
      if (saved === undefined) delete process.env.MEDFM_TRACK_MODE;
      else process.env.MEDFM_TRACK_MODE = saved;
    }
  });

  it("bounds memory: a full buffer is written to the journal without waiting", () => {
    const run = initRun({ root: tempRoot(), maxBufferedPoints: 100, flushIntervalMs: 60_000 });
    for (let index = 0; index < 250; index += 1) run["train/loss"].append(index);
    const stored = readRun(run.path as string);
    expect(stored.series["train/loss"]).toHaveLength(200);
    void run.stop();
  });

  it("copies an uploaded file into the run", async () => {
    const root = tempRoot();
    const source = join(root, "weights.bin");
    writeFileSync(source, Buffer.from([1, 2, 3, 4]));
    const run = initRun({ root });
    run["model/best"].upload(source);
    await run.stop();
    const stored = readRun(run.path as string);
    expect(stored.fieldTypes["model/best"]).toBe("file");
    expect(stored.files["model/best"].name).toBe("weights.bin");
    expect([...readFileSync(stored.files["model/best"].file)]).toEqual([1, 2, 3, 4]);
  });

  it("stores an array as its JSON string with a warning", async () => {
    const warnings: string[] = [];
    const run = initRun({ root: tempRoot(), warn: (message) => warnings.push(message) });
    run.params = { size: [224, 224] };
    await run.stop();
    expect(readRun(run.path as string).params.size).toBe("[224,224]");
    expect(warnings[0]).toMatch(/params\/size: an array is stored as the string/);
  });

  it("refuses field paths with a '.' segment or a leading '..', which MLflow rejects", () => {
    const run = initRun({ root: tempRoot(), mode: "debug" });
    for (const path of ["train/./loss", "train/../loss", "..", "a/.", "./a", "..a/b"]) {
      expect(() => run[path].append(1), path).toThrow(FieldTypeError);
      expect(() => run[path].append(1), path).toThrow(
        new RegExp(`${path.replace(/\./g, "\\.")}: .*MLflow rejects`),
      );
    }
    // Dots inside a segment are fine.
    run["val/mAP.macro"].append(0.5);
    run["a/b..c"].append(1);
    expect(run["val/mAP.macro"].fetchValues()).toHaveLength(1);
  });

  it("refuses an upload whose field path climbs out of the run folder", async () => {
    const root = tempRoot();
    const source = join(root, "weights.bin");
    writeFileSync(source, Buffer.from([1, 2, 3]));
    const run = initRun({ root });
    for (const path of ["../../escape", "model/../../../escape", ".."]) {
      expect(() => run[path].upload(source), path).toThrow(FieldTypeError);
    }
    await run.stop();
    expect(existsSync(join(root, "escape"))).toBe(false);
    expect(existsSync(join(root, "..", "escape"))).toBe(false);
    expect(readdirSync(root).sort()).toEqual([run.id, "weights.bin"].sort());
    expect(readRun(run.path as string).files).toEqual({});
  });

  it("cuts a torn last line off when a run is resumed, with a warning, and stays readable", async () => {
    const root = tempRoot();
    // A writer killed mid-run, its last line half written.
    const writer = spawnLogger([root, "new"], "writer-child.ts");
    const [, id] = await writer.waitFor(/OPEN (\S+)/);
    writer.process.kill("SIGKILL");
    await writer.exited;
    const file = join(root, id, "journal.jsonl");
    appendFileSync(file, '{"seq":99,"op":"log","path":"train/loss","points":[[3,');
    const warnings: string[] = [];
    const resumed = initRun({ root, id, warn: (message) => warnings.push(message) });
    expect(warnings.join("\n")).toMatch(
      /journal\.jsonl: the last line \(\d+ bytes at byte \d+\) was cut short by a crash; the journal is truncated to its last complete record \(seq \d+\)/,
    );
    resumed["train/loss"].extend(Array.from({ length: 1500 }, (_, index) => 4 + index));
    await resumed.stop();
    const stored = readRun(resumed.path as string);
    expect(stored.tornTail).toBe(false);
    expect(stored.status).toBe("finished");
    expect(stored.series["train/loss"].map((point) => point.value)).toEqual(
      Array.from({ length: 1503 }, (_, index) => 1 + index),
    );
  });
});

describe("one writer per run, across processes", () => {
  it("refuses a second resume while a live process writes the run; takes over a dead one's", async () => {
    const root = tempRoot();
    const writer = spawnLogger([root, "new"], "writer-child.ts");
    try {
      const [, id] = await writer.waitFor(/OPEN (\S+)/);
      // While it lives, a second writer (another process, or this one) is refused.
      const second = spawnLogger([root, id], "writer-child.ts");
      const [, message] = await second.waitFor(/BUSY (.*)/);
      expect((await second.exited).code).toBe(3);
      expect(message).toMatch(
        new RegExp(`run .*${id} is open for writing in process ${writer.process.pid} on `),
      );
      // And in this process too.
      expect(() => initRun({ root, id, warn: () => {} })).toThrow(RunBusyError);
      writer.process.kill("SIGKILL");
      await writer.exited;
      const resumed = initRun({ root, id, warn: () => {} });
      resumed["train/loss"].append(4);
      await resumed.stop();
      const stored = readRun(resumed.path as string);
      expect(stored.series["train/loss"].map((point) => [point.step, point.value])).toEqual([
        [0, 1],
        [1, 2],
        [2, 3],
        [3, 4],
      ]);
    } finally {
      writer.process.kill("SIGKILL");
    }
  });

  it("lets exactly one of two concurrent resumes of a crashed run write it", async () => {
    const root = tempRoot();
    const first = spawnLogger([root, "new"], "writer-child.ts");
    const [, id] = await first.waitFor(/OPEN (\S+)/);
    first.process.kill("SIGKILL");
    await first.exited;
    const resumers = [0, 1].map(() => spawnLogger([root, id], "writer-child.ts"));
    try {
      const outcomes = await Promise.all(
        resumers.map((resumer) =>
          Promise.race([
            resumer.waitFor(/OPEN \S+/).then(() => "open"),
            resumer.waitFor(/BUSY .*one writer at a time/).then(() => "busy"),
          ]),
        ),
      );
      expect(outcomes.sort()).toEqual(["busy", "open"]);
    } finally {
      for (const resumer of resumers) resumer.process.kill("SIGKILL");
      await Promise.all(resumers.map((resumer) => resumer.exited));
    }
    // One writer appended after the crash: the run reads back, sequence numbers contiguous.
    const stored = readRun(join(root, id));
    expect(stored.series["train/loss"].map((point) => point.value)).toEqual([1, 2, 3, 1, 2, 3]);
  });
});
