import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { chestTask, colonTask, defineTask, endoTask } from "../tasks";
import { AnnotationError } from "./annotation-error";
import { detectAnnotationFormat } from "./detect-format";
import { formatAnnotations } from "./format-annotations";
import { parseAnnotations } from "./parse-annotations";
import { readAnnotationFile, writeAnnotationFile } from "./read-annotation-file";

const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const samplesRoot = resolve(repositoryRoot, "../shared/samples");
const hasSamples = existsSync(samplesRoot);
if (!hasSamples) console.warn(`CSV sample tests skipped: ${samplesRoot} is absent`);

function errorOf(run: () => unknown): AnnotationError {
  try {
    run();
  } catch (error) {
    if (AnnotationError.isInstance(error)) return error;
    throw error;
  }
  throw new Error("expected an AnnotationError");
}

describe("mmpretrain JSON", () => {
  const json = `{
  "metainfo": { "classes": ["ulcer", "erosion", "polyp", "tumor"] },
  "data_list": [
    { "img_path": "a.png", "gt_label": [0, 2] },
    { "img_path": "b.png", "gt_label": [], "study": "s1" }
  ]
}
`;

  it("reads classes, multi-label indices and extra keys", () => {
    const set = parseAnnotations(json);
    expect(set.format).toBe("mmpretrain-json");
    expect(set.classes).toEqual(["ulcer", "erosion", "polyp", "tumor"]);
    expect(Array.from(set.samples[0].labels)).toEqual([1, 0, 1, 0]);
    expect(Array.from(set.samples[1].labels)).toEqual([0, 0, 0, 0]);
    expect(set.samples[1].metadata).toEqual({ study: "s1" });
    expect(set.samples.map((sample) => sample.line)).toEqual([4, 5]);
  });

  it("round-trips through formatAnnotations for multi-label and single-label tasks", () => {
    const endo = parseAnnotations(json, { task: endoTask });
    const written = formatAnnotations(endo.samples, { task: endoTask, format: "mmpretrain-json" });
    const again = parseAnnotations(written, { task: endoTask });
    expect(again.samples.map((sample) => Array.from(sample.labels))).toEqual(
      endo.samples.map((sample) => Array.from(sample.labels)),
    );
    const colon = parseAnnotations("a b.png 1\nc.png 0\n", { task: colonTask });
    const colonJson = formatAnnotations(colon.samples, {
      task: colonTask,
      format: "mmpretrain-json",
    });
    expect(JSON.parse(colonJson).data_list).toEqual([
      { img_path: "a b.png", gt_label: 1 },
      { img_path: "c.png", gt_label: 0 },
    ]);
    expect(parseAnnotations(colonJson).samples.map((sample) => Array.from(sample.labels))).toEqual([
      [0, 1],
      [1, 0],
    ]);
  });

  it("names the line of a bad entry, of a class mismatch and of a JSON syntax error", () => {
    const bad = json.replace('"gt_label": [0, 2]', '"gt_label": [0, 7]');
    expect(
      errorOf(() => parseAnnotations(bad, { file: "ann.json", task: endoTask })).message,
    ).toContain("ann.json:4: gt_label 7 is not a valid class index");
    const mismatch = errorOf(() => parseAnnotations(json, { file: "ann.json", task: chestTask }));
    expect(mismatch.issues[0].line).toBe(2);
    expect(mismatch.issues[0].message).toMatch(/metainfo.classes differ from task chest/);
    const broken = errorOf(() =>
      parseAnnotations('{\n  "data_list": [\n    { "img_path": }\n]}', { file: "x.json" }),
    );
    expect(broken.issues[0].code).toBe("syntax");
    expect(broken.issues[0].line).toBe(3);
  });

  it("names the line of every entry after one without img_path, multi-line entries and non-objects", () => {
    const text = `{
  "metainfo": {
    "classes": ["ulcer", "erosion", "polyp", "tumor"],
    "data_list": "a key of metainfo, not the list"
  },
  "data_list": [
    { "path": "no-img-path.png", "gt_label": [0] },
    {
      "note": "says \\"img_path\\": in a string, [not] {a} key",
      "img_path": "b.png",
      "gt_label": [9]
    },
    null,
    "c.png",
    { "img_path": "d.png", "gt_label": [1] }, { "img_path": "e.png", "gt_label": [1, 1] },
    [],
    { "img_path": "../f.png", "gt_label": [] }
  ]
}
`;
    const error = errorOf(() => parseAnnotations(text, { file: "ann.json", task: endoTask }));
    expect(error.issues.map((issue) => [issue.line, issue.message])).toEqual([
      [7, "data_list[0] has no string img_path"],
      [8, "gt_label 9 is not a valid class index"],
      [13, "data_list[2] has no string img_path"],
      [14, "data_list[3] has no string img_path"],
      [15, "gt_label repeats a class index"],
      [16, "data_list[6] has no string img_path"],
      [17, "`..` in an image name refused (no reading outside the data root)"],
    ]);
    expect(error.message).toContain('ann.json:13: data_list[2] has no string img_path: "null"');
  });
});

describe("path label lists", () => {
  it("reads class names or indices and writes class names", () => {
    const set = parseAnnotations("imgs/a b.png positive\nimgs/c.png 0\n", { task: colonTask });
    expect(set.format).toBe("path-label");
    expect(set.samples.map((sample) => Array.from(sample.labels))).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect(formatAnnotations(set.samples, { task: colonTask, format: "path-label" })).toBe(
      "imgs/a b.png positive\nimgs/c.png negative\n",
    );
    const multi = parseAnnotations("x.png ulcer,tumor\ny.png -\n", {
      task: endoTask,
      format: "path-label",
    });
    expect(multi.samples.map((sample) => Array.from(sample.labels))).toEqual([
      [1, 0, 0, 1],
      [0, 0, 0, 0],
    ]);
    expect(formatAnnotations(multi.samples, { task: endoTask, format: "path-label" })).toBe(
      "x.png ulcer,tumor\ny.png -\n",
    );
  });

  it("names unknown classes", () => {
    const error = errorOf(() =>
      parseAnnotations("a.png maybe\n", { task: colonTask, file: "l.txt" }),
    );
    expect(error.message).toContain(
      'l.txt:1: label "maybe" is not a class of task colon (negative, positive)',
    );
  });
});

describe("CSV with class columns", () => {
  const task = defineTask({ name: "tissue", classes: ["tumor", "normal"], kind: "multi-label" });

  it("maps class columns, takes patient_id as group and keeps other columns as metadata", () => {
    const csv =
      'image,normal,tumor,patient_id,site\na.png,0,1,p1,"Oslo, NO"\nb.png,1,0,p2,Bergen\n';
    const set = parseAnnotations(csv, { task, file: "labels.csv" });
    expect(set.format).toBe("csv");
    expect(set.samples.map((sample) => Array.from(sample.labels))).toEqual([
      [1, 0],
      [0, 1],
    ]);
    expect(set.samples.map((sample) => sample.group)).toEqual(["p1", "p2"]);
    expect(set.samples[0].metadata).toEqual({ site: "Oslo, NO" });
    const written = formatAnnotations(set.samples, { task, format: "csv" });
    expect(written).toBe(
      'image,tumor,normal,patient_id,site\na.png,1,0,p1,"Oslo, NO"\nb.png,0,1,p2,Bergen\n',
    );
    expect(parseAnnotations(written, { task }).samples).toEqual(
      set.samples.map((sample, index) => ({ ...sample, line: index + 2 })),
    );
  });

  it("reads a multi-class CSV with one label column", () => {
    const set = parseAnnotations("image,label,site\na.png,positive,x\nb.png,0,y\n", {
      task: colonTask,
      file: "c.csv",
    });
    expect(set.samples.map((sample) => Array.from(sample.labels))).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect(set.samples[1].metadata).toEqual({ site: "y" });
    expect(() =>
      parseAnnotations("image,label\na.png,maybe\n", { task: colonTask, file: "c.csv" }),
    ).toThrow('c.csv:2: label "maybe" is not a class of task colon (negative, positive)');
  });

  it("reports missing class columns, bad values and short rows with their lines", () => {
    expect(
      errorOf(() => parseAnnotations("image,tumor\na.png,1\n", { task, format: "csv" })).message,
    ).toContain("header lacks class columns of task tissue: normal");
    const error = errorOf(() =>
      parseAnnotations("image,tumor,normal\na.png,2,0\nb.png,1\n\nc.png,0,1\n", {
        task,
        file: "t.csv",
      }),
    );
    expect(error.issues.map((issue) => `${issue.line} ${issue.code}`)).toEqual([
      "2 label-value",
      "3 label-count",
      "4 empty-line",
    ]);
  });

  it.skipIf(!hasSamples)(
    "reads the NIH-style chest labels.csv and checks its images on disk",
    async () => {
      const file = join(samplesRoot, "chest/labels.csv");
      const set = await readAnnotationFile(file, { dataRoot: join(samplesRoot, "chest/images") });
      expect(set.classes).toContain("Atelectasis");
      expect(set.classes).toContain("No_Finding");
      expect(set.classes).toHaveLength(15);
      expect(set.samples).toHaveLength(30);
      expect(set.samples[0].group).toBe("129");
      expect(Object.keys(set.samples[0].metadata ?? {})).toEqual(["age", "sex", "view"]);
    },
  );
});

describe.skipIf(!hasSamples)("a corrupted copy of the NIH-style chest labels.csv, no task", () => {
  const original = hasSamples ? readFileSync(join(samplesRoot, "chest/labels.csv"), "utf8") : "";
  const rows = original.trimEnd().split(/\r?\n/);
  const header = rows[0].split(",");
  const write = async (text: string) => {
    const file = join(await mkdtemp(join(tmpdir(), "medfm-csv-")), "labels.csv");
    await writeFile(file, text);
    return file;
  };

  it("reports a 2 in a class column on its line instead of taking the column as metadata", async () => {
    const bad = rows.map((row) => row.split(","));
    const atelectasis = header.indexOf("Atelectasis");
    bad[5][atelectasis] = "2";
    bad[9][header.indexOf("Hernia")] = "nan";
    const file = await write(`${bad.map((row) => row.join(",")).join("\n")}\n`);
    const caught = await readAnnotationFile(file).catch((error: unknown) => error);
    expect(AnnotationError.isInstance(caught)).toBe(true);
    const issues = (caught as AnnotationError).issues;
    expect(issues.map((issue) => [issue.line, issue.code, issue.text])).toEqual([
      [6, "label-value", bad[5].join(",")],
      [10, "label-value", bad[9].join(",")],
    ]);
    expect(issues[0].message).toBe(
      'column "Atelectasis" is "2", expected 0 or 1 (29 of its 30 rows are 0/1, so it looks like a label column; pass a task to say which columns are classes)',
    );
    expect(issues[0].file).toBe(file);
  });

  it("refuses a headerless copy instead of reading its first row as the header", async () => {
    const file = await write(`${rows.slice(1).join("\n")}\n`);
    const caught = await readAnnotationFile(file).catch((error: unknown) => error);
    expect(AnnotationError.isInstance(caught)).toBe(true);
    expect((caught as AnnotationError).issues.map((issue) => [issue.line, issue.message])).toEqual([
      [
        1,
        'line 1 looks like a data row, not a CSV header (column 1 is "00000129_000.png"); CSV annotations need a header row naming the columns',
      ],
    ]);
  });
});

describe("detection and files", () => {
  it("detects each format", () => {
    expect(detectAnnotationFormat("a.png 0,1\n")).toBe("medfmc-comma");
    expect(detectAnnotationFormat("a.png 0 1 0\n")).toBe("medfmc-space");
    expect(detectAnnotationFormat("a b.png 1\n")).toBe("medfmc-index");
    expect(detectAnnotationFormat("a b.png\n")).toBe("medfmc-names");
    expect(detectAnnotationFormat("a.png cat\n")).toBe("path-label");
    expect(detectAnnotationFormat('{"data_list": []}')).toBe("mmpretrain-json");
    expect(detectAnnotationFormat("image,a,b\nx.png,0,1\n")).toBe("csv");
    expect(detectAnnotationFormat("x.png 0 1\n", "labels.csv")).toBe("csv");
  });

  it("writes and reads back a file, and names an unreadable one", async () => {
    const folder = await mkdtemp(join(tmpdir(), "medfm-ann-"));
    const samples = parseAnnotations("a.png 1 0 0 0\n", { task: endoTask }).samples;
    await writeAnnotationFile(join(folder, "sub/out.txt"), samples, { task: endoTask });
    const set = await readAnnotationFile(join(folder, "sub/out.txt"), { task: endoTask });
    expect(Array.from(set.samples[0].labels)).toEqual([1, 0, 0, 0]);
    await writeFile(join(folder, "a.png"), "");
    await expect(
      readAnnotationFile(join(folder, "sub/out.txt"), { task: endoTask, dataRoot: folder }),
    ).resolves.toBeTruthy();
    await expect(readAnnotationFile(join(folder, "none.txt"))).rejects.toThrow(
      /none\.txt: cannot read annotation file/,
    );
  });
});
