import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { getTask } from "../tasks";
import { AnnotationError } from "./annotation-error";
import { readAnnotationFile } from "./read-annotation-file";

const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const annotationsRoot = resolve(repositoryRoot, "../shared/medfmc-anns");
const samplesRoot = resolve(repositoryRoot, "../shared/samples");
const hasShared = existsSync(annotationsRoot);
if (!hasShared) {
  console.warn(`medfmc-anns tests skipped: ${annotationsRoot} is absent (CI provides ../shared)`);
}

describe.skipIf(!hasShared)("the real MedFMC annotation files", () => {
  it("parses every file and finds the README's counts", async () => {
    const counts: Record<string, number> = {};
    for (const taskName of ["chest", "colon", "endo"]) {
      const task = getTask(taskName);
      const files = readdirSync(join(annotationsRoot, taskName)).filter((file) =>
        file.endsWith(".txt"),
      );
      expect(files).toHaveLength(35);
      for (const file of files) {
        const set = await readAnnotationFile(join(annotationsRoot, taskName, file), { task });
        counts[`${taskName}/${file}`] = set.samples.length;
        expect(set.format).toBe(
          file === "test_WithoutLabel.txt"
            ? "medfmc-names"
            : { chest: "medfmc-comma", colon: "medfmc-index", endo: "medfmc-space" }[taskName],
        );
        expect(set.warnings.filter((warning) => warning.code !== "duplicate")).toEqual([]);
      }
    }
    expect(counts["chest/trainval.txt"]).toBe(979);
    expect(counts["chest/test_WithLabel.txt"]).toBe(1161);
    expect(counts["chest/test_WithoutLabel.txt"]).toBe(2708);
    expect(counts["colon/trainval.txt"]).toBe(2358);
    expect(counts["colon/test_WithLabel.txt"]).toBe(3296);
    expect(counts["endo/trainval.txt"]).toBe(929);
    expect(counts["endo/test_WithLabel.txt"]).toBe(881);
    // train_20 + val_20 partition trainval (train_20 holds about 80%).
    for (const taskName of ["chest", "colon", "endo"]) {
      expect(counts[`${taskName}/train_20.txt`] + counts[`${taskName}/val_20.txt`]).toBe(
        counts[`${taskName}/trainval.txt`],
      );
    }
  });

  it("reports the duplicate lines of the official chest and endo few-shot train files", async () => {
    const chest = await readAnnotationFile(
      join(annotationsRoot, "chest/chest_10-shot_train_exp1.txt"),
      {
        task: getTask("chest"),
      },
    );
    expect(chest.duplicates.length).toBeGreaterThan(0);
    expect(chest.duplicates.every((duplicate) => duplicate.sameLabels)).toBe(true);
    const distinct = new Set(chest.samples.map((sample) => sample.name)).size;
    const extra = chest.duplicates.reduce((sum, duplicate) => sum + duplicate.lines.length - 1, 0);
    expect(distinct + extra).toBe(chest.samples.length);
    const endo = await readAnnotationFile(
      join(annotationsRoot, "endo/endo_10-shot_train_exp1.txt"),
      {
        task: getTask("endo"),
      },
    );
    expect(endo.duplicates.length).toBeGreaterThan(0);
    await expect(
      readAnnotationFile(join(annotationsRoot, "endo/endo_10-shot_train_exp1.txt"), {
        task: getTask("endo"),
        duplicates: "error",
      }),
    ).rejects.toThrow(/endo_10-shot_train_exp1\.txt:\d+: duplicate of line \d+/);
  });

  it("finds no tumor positive in endo test_WithLabel", async () => {
    const set = await readAnnotationFile(join(annotationsRoot, "endo/test_WithLabel.txt"), {
      task: getTask("endo"),
    });
    expect(set.samples.some((sample) => sample.labels[3] === 1)).toBe(false);
    expect(set.samples.some((sample) => sample.labels[2] === 1)).toBe(true);
  });

  it("reports every image missing under a data root at once", async () => {
    const error = await readAnnotationFile(
      join(annotationsRoot, "chest/chest_1-shot_train_exp1.txt"),
      {
        task: getTask("chest"),
        dataRoot: samplesRoot,
      },
    ).catch((caught: unknown) => caught);
    expect(AnnotationError.isInstance(error)).toBe(true);
    const issues = (error as AnnotationError).issues;
    expect(issues).toHaveLength(19);
    expect(issues.every((issue) => issue.code === "missing-image")).toBe(true);
    expect(issues[0].line).toBe(1);
    expect((error as AnnotationError).message).toContain(
      "chest_1-shot_train_exp1.txt:1: image not found under",
    );
  });

  describe("a corrupted copy of chest trainval.txt", () => {
    const original = hasShared
      ? readFileSync(join(annotationsRoot, "chest/trainval.txt"), "utf8")
      : "";
    const lines = original.trimEnd().split("\n");
    const write = (name: string, text: string) => {
      const file = join(mkdtempSync(join(tmpdir(), "medfm-chest-")), name);
      writeFileSync(file, text);
      return file;
    };
    const issuesOf = async (file: string, task?: "chest") => {
      const caught = await readAnnotationFile(file, task ? { task: getTask(task) } : {}).catch(
        (error: unknown) => error,
      );
      expect(AnnotationError.isInstance(caught)).toBe(true);
      return (caught as AnnotationError).issues;
    };

    it("with -1 and nan labels, reports each bad value on its own line, with or without a task", async () => {
      const bad = [...lines];
      const [name1, labels1] = bad[0].split(" ");
      bad[0] = `${name1} -1,${labels1.slice(2)}`;
      const [name7, labels7] = bad[6].split(" ");
      bad[6] = `${name7} ${labels7.slice(0, -1)}nan`;
      const file = write("trainval.txt", `${bad.join("\n")}\n`);
      for (const task of ["chest", undefined] as const) {
        const issues = await issuesOf(file, task);
        expect(issues.map((issue) => [issue.line, issue.code, issue.message])).toEqual([
          [1, "label-value", 'label 1 is "-1", expected 0 or 1'],
          [7, "label-value", 'label 19 is "nan", expected 0 or 1'],
        ]);
        expect(issues[0].file).toBe(file);
        expect(issues[0].text).toBe(bad[0]);
      }
    });

    it("with a first line holding one nan label, blames that line only", async () => {
      const bad = [...lines];
      bad[0] = `${bad[0].split(" ")[0]} nan`;
      const file = write("trainval.txt", `${bad.join("\n")}\n`);
      expect((await issuesOf(file)).map((issue) => [issue.line, issue.message])).toEqual([
        [1, "expected 19 labels (as most lines, first line 2), got 1"],
      ]);
      const chest = await issuesOf(file, "chest");
      expect(chest.map((issue) => [issue.line, issue.message])).toEqual([
        [1, "expected 19 labels (task chest), got 1"],
      ]);
    });

    it("with CR-only line endings, reads every line and warns (an error when strict)", async () => {
      const file = write("trainval.txt", `${lines.join("\r")}\r`);
      const set = await readAnnotationFile(file, { task: getTask("chest") });
      expect(set.format).toBe("medfmc-comma");
      expect(set.samples).toHaveLength(979);
      expect(set.samples[978]).toMatchObject({ name: lines[978].split(" ")[0], line: 979 });
      expect(set.warnings.map((warning) => [warning.code, warning.message])).toEqual([
        ["cr", "CR-only line endings (979 lines)"],
      ]);
      const untasked = await readAnnotationFile(file);
      expect(untasked.classCount).toBe(19);
      const bad = [...lines];
      bad[1] = `${bad[1].slice(0, -1)}-1`;
      const strict = await readAnnotationFile(write("bad.txt", `${bad.join("\r")}\r`), {
        task: getTask("chest"),
        strict: true,
      }).catch((error: unknown) => error as AnnotationError);
      expect((strict as AnnotationError).issues.map((issue) => [issue.line, issue.code])).toEqual([
        [1, "cr"],
        [2, "label-value"],
      ]);
    });
  });
});
