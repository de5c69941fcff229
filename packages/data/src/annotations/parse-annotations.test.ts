import { describe, expect, it } from "vitest";
import { chestTask, colonTask, defineTask, endoTask } from "../tasks";
import { AnnotationError } from "./annotation-error";
import { formatAnnotations } from "./format-annotations";
import { parseAnnotations } from "./parse-annotations";

const chestLine = (name: string, positives: number[]) =>
  `${name} ${Array.from({ length: 19 }, (_, i) => (positives.includes(i) ? 1 : 0)).join(",")}`;

function errorOf(run: () => unknown): AnnotationError {
  try {
    run();
  } catch (error) {
    if (AnnotationError.isInstance(error)) return error;
    throw error;
  }
  throw new Error("expected an AnnotationError");
}

describe("parseAnnotations: MedFMC text", () => {
  it("detects and reads chest, colon, endo and name-only lists", () => {
    const chest = parseAnnotations(`${chestLine("a.png", [0, 3])}\n${chestLine("b.png", [])}\n`);
    expect(chest.format).toBe("medfmc-comma");
    expect(chest.classCount).toBe(19);
    expect(Array.from(chest.samples[0].labels.slice(0, 4))).toEqual([1, 0, 0, 1]);
    const colon = parseAnnotations(
      "1903326001_2019-06-11 12_07_06-lv1-3173-23728-2837-3546p0008.png 1\nx y z.png 0\n",
      { task: colonTask },
    );
    expect(colon.format).toBe("medfmc-index");
    expect(colon.samples[0].name).toBe(
      "1903326001_2019-06-11 12_07_06-lv1-3173-23728-2837-3546p0008.png",
    );
    expect(Array.from(colon.samples[0].labels)).toEqual([0, 1]);
    expect(colon.samples[0].group).toBe("1903326001_2019-06-11 12_07_06-lv1-3173-23728-2837-3546");
    const endo = parseAnnotations("13333_2021.11_0002_54971654.png 0 0 1 0\n", { task: endoTask });
    expect(endo.format).toBe("medfmc-space");
    expect(endo.samples[0].group).toBe("13333_2021.11_0002");
    expect(Array.from(endo.samples[0].labels)).toEqual([0, 0, 1, 0]);
    const names = parseAnnotations("a b.png\nc.png\n", { task: colonTask });
    expect(names.format).toBe("medfmc-names");
    expect(names.labelled).toBe(false);
    expect(names.samples.map((sample) => sample.name)).toEqual(["a b.png", "c.png"]);
  });

  it("collects every error with file, line and text into one AnnotationError", () => {
    const text = [
      chestLine("ok.png", [1]),
      "short.png 0,1,0",
      chestLine("bad.png", []).replace(/0$/, "2"),
      "   ",
      "",
      chestLine("/etc/passwd", []),
      chestLine("../up.png", []),
      chestLine("ok.png", [2]),
    ].join("\n");
    const error = errorOf(() =>
      parseAnnotations(`${text}\n`, { task: chestTask, file: "train.txt" }),
    );
    expect(error).toBeInstanceOf(AnnotationError);
    expect(error.issues.map((issue) => [issue.line, issue.code])).toEqual([
      [2, "label-count"],
      [3, "label-value"],
      [4, "empty-line"],
      [5, "empty-line"],
      [6, "unsafe-path"],
      [7, "unsafe-path"],
      [8, "conflicting-duplicate"],
    ]);
    expect(error.message).toContain(
      'train.txt:2: expected 19 labels (task chest), got 3: "short.png 0,1,0"',
    );
    expect(error.message).toContain('train.txt:3: label 19 is "2", expected 0 or 1');
    expect(error.message).toContain("train.txt:8: duplicate of line 1 with conflicting labels");
    expect(error.issues[5].text).toBe(chestLine("../up.png", []));
  });

  it("refuses an empty file", () => {
    expect(errorOf(() => parseAnnotations("", { file: "empty.txt" })).message).toContain(
      "empty.txt: no annotations found (empty file)",
    );
    expect(errorOf(() => parseAnnotations('{"data_list": []}')).issues[0].code).toBe("format");
  });

  it("without a task, takes the label count from the first line", () => {
    const error = errorOf(() => parseAnnotations("a.png 0 1 0 0\nb.png 0 1 0\n"));
    expect(error.issues[0].message).toBe("expected 4 labels (as most lines, first line 1), got 3");
  });

  it("accepts BOM and CRLF with warnings, and refuses them when strict", () => {
    const text = "\uFEFFa.png 0 1 0 0\r\nb.png 1 0 0 0\r\n";
    const set = parseAnnotations(text, { task: endoTask, file: "e.txt" });
    expect(set.samples.map((sample) => sample.name)).toEqual(["a.png", "b.png"]);
    expect(set.warnings.map((warning) => warning.code)).toEqual(["bom", "crlf"]);
    expect(set.warnings[1].message).toBe("CRLF line endings (2 of 2 lines)");
    const error = errorOf(() =>
      parseAnnotations(text, { task: endoTask, file: "e.txt", strict: true }),
    );
    expect(error.issues.map((issue) => issue.code)).toEqual(["bom", "crlf"]);
  });

  it("keeps identical duplicates and reports them; drops or refuses them on request", () => {
    const text = "a.png 0 1 0 0\nb.png 1 0 0 0\na.png 0 1 0 0\n";
    const kept = parseAnnotations(text, { task: endoTask });
    expect(kept.samples).toHaveLength(3);
    expect(kept.duplicates).toEqual([{ name: "a.png", lines: [1, 3], sameLabels: true }]);
    expect(kept.warnings[0].message).toBe("duplicate of line 1");
    const dropped = parseAnnotations(text, { task: endoTask, duplicates: "drop" });
    expect(dropped.samples.map((sample) => sample.line)).toEqual([1, 2]);
    expect(dropped.warnings[0].message).toBe("duplicate of line 1 (dropped)");
    expect(
      errorOf(() => parseAnnotations(text, { task: endoTask, duplicates: "error" })).issues,
    ).toHaveLength(1);
  });

  it("refuses a colon index out of range and a multi-hot row for a multi-class task", () => {
    const error = errorOf(() =>
      parseAnnotations("a b.png 2\nc.png x\n", { task: colonTask, format: "medfmc-index" }),
    );
    expect(error.issues.map((issue) => issue.message)).toEqual([
      "class index 2 is out of range for 2 classes of task colon",
      'label "x" is not a class index',
    ]);
    const oneHot = errorOf(() =>
      parseAnnotations("a.png 1,1\n", { task: colonTask, format: "medfmc-comma" }),
    );
    expect(oneHot.issues[0].message).toBe(
      "multi-class task colon needs exactly one positive label, got 2",
    );
  });

  it("reads a chest file given to a single-index format as a label-count error", () => {
    const error = errorOf(() => parseAnnotations("a.png 1\n", { task: chestTask }));
    expect(error.issues[0].message).toBe("expected 19 labels (task chest), got 1");
  });
});

describe("formatAnnotations", () => {
  it("round-trips every MedFMC layout byte for byte", () => {
    const cases = [
      { task: chestTask, text: `${chestLine("a.png", [0, 18])}\n${chestLine("b.png", [])}\n` },
      { task: colonTask, text: "a b c.png 1\nd.png 0\n" },
      { task: endoTask, text: "e.png 1 0 0 1\nf.png 0 0 0 0\n" },
    ];
    for (const { task, text } of cases) {
      const set = parseAnnotations(text, { task });
      expect(formatAnnotations(set.samples, { task })).toBe(text);
    }
    const names = parseAnnotations("x y.png\nz.png\n");
    expect(formatAnnotations(names.samples, { task: colonTask, format: "medfmc-names" })).toBe(
      "x y.png\nz.png\n",
    );
  });

  it("refuses samples that do not fit the task, naming each", () => {
    const samples = [
      { name: "a.png", labels: new Uint8Array([1, 0, 0]) },
      { name: "../b.png", labels: new Uint8Array([1, 0]) },
      { name: "c.png", labels: new Uint8Array([1, 1]) },
    ];
    const error = errorOf(() => formatAnnotations(samples, { task: colonTask, file: "out.txt" }));
    expect(error.issues.map((issue) => `${issue.line} ${issue.code}`)).toEqual([
      "1 label-count",
      "2 unsafe-path",
      "3 label-value",
    ]);
  });

  it("writes a custom task in its own layout", () => {
    const task = defineTask({
      name: "derm",
      classes: ["a", "b", "c"],
      kind: "multi-label",
      textLayout: "space",
    });
    const set = parseAnnotations("x.png 1 0 1\n", { task });
    expect(formatAnnotations(set.samples, { task })).toBe("x.png 1 0 1\n");
    expect(formatAnnotations(set.samples, { task, format: "medfmc-comma" })).toBe("x.png 1,0,1\n");
  });
});
