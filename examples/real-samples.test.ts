/**
 * End to end on the real images in ../shared/samples (NIH chest X-rays, CRC-VAL-HE-7K colon
 * patches, HyperKvasir/EndoTect endoscopy frames): their labels.csv is mapped onto the MedFM
 * task classes and written as MedFMC annotation files, then `medfm train` runs each task for a
 * couple of epochs on small images and `medfm report` renders the run. Skipped (with a message)
 * where ../shared is absent, as in a user's clone; CI has it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createProgram } from "@medfm/cli";
import {
  chestTask,
  colonTask,
  endoTask,
  parseAnnotations,
  type Sample,
  type TaskDefinition,
  writeAnnotationFile,
} from "@medfm/data";
import { readRun } from "@medfm/track";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const samples = new URL("../../shared/samples/", import.meta.url).pathname;
const available = existsSync(join(samples, "chest", "labels.csv"));
if (!available)
  console.warn(
    `real-samples.test.ts: skipped, ${samples} is absent (it ships beside the repo, not in it)`,
  );
const workDir = mkdtempSync(join(tmpdir(), "medfm-real-samples-"));
const startDir = process.cwd();

/** NIH ChestX-ray14 findings that have a MedFM ChestDR class; Infiltration, Mass and Hernia have none. */
const nihToMedfm: Record<string, string> = {
  Atelectasis: "atelectasis",
  Cardiomegaly: "cardiomegaly",
  Effusion: "pleural_effusion",
  Nodule: "nodule",
  Pneumonia: "pneumonia",
  Pneumothorax: "pneumothorax",
  Consolidation: "consolidation",
  Edema: "pulmonary_edema",
  Emphysema: "emphysema",
  Fibrosis: "fibrosis",
  Pleural_Thickening: "thickened_pleura",
};

/** Maps a labels.csv onto a task's classes; `columnFor` names the CSV column behind a class. */
function mapSamples(
  task: TaskDefinition,
  columnFor: (className: string) => string | undefined,
): Sample[] {
  const file = join(samples, task.name, "labels.csv");
  const parsed = parseAnnotations(readFileSync(file, "utf8"), { format: "csv", file });
  const columns = parsed.classes!;
  return parsed.samples.map((sample) => {
    const labels = new Uint8Array(task.classes.length);
    task.classes.forEach((className, c) => {
      const column = columnFor(className);
      if (column !== undefined) labels[c] = sample.labels[columns.indexOf(column)];
    });
    if (task.kind === "multi-class") labels[0] = labels[1] ? 0 : 1;
    return { name: sample.name, labels };
  });
}

async function medfm(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((line: string) => {
    lines.push(String(line));
  });
  try {
    await createProgram().parseAsync(["node", "medfm", ...args]);
  } finally {
    log.mockRestore();
  }
  return lines;
}

const cases: Array<{
  task: TaskDefinition;
  columnFor: (className: string) => string | undefined;
  valCount: number;
}> = [
  {
    task: chestTask,
    columnFor: (className) =>
      Object.entries(nihToMedfm).find(([, medfm]) => medfm === className)?.[0],
    valCount: 10,
  },
  // Colon: positive = the TUM tissue class.
  {
    task: colonTask,
    columnFor: (className) => (className === colonTask.classes[1] ? "tumor" : undefined),
    valCount: 12,
  },
  // Endo: polyp frames are polyps; ulcerative colitis frames show ulceration.
  {
    task: endoTask,
    columnFor: (className) =>
      ({ polyp: "polyp", ulcer: "ulcerative_colitis" })[className as "polyp" | "ulcer"],
    valCount: 8,
  },
];

describe.skipIf(!available)("medfm train and report on ../shared/samples", () => {
  beforeAll(() => {
    process.chdir(workDir);
    process.env.MEDFM_BACKEND = "wasm";
    process.env.CI = "true";
  });
  afterAll(() => {
    process.chdir(startDir);
    rmSync(workDir, { recursive: true, force: true });
  });

  for (const { task, columnFor, valCount } of cases) {
    it(`${task.name}: trains two epochs on the real images and renders the report`, async () => {
      const mapped = mapSamples(task, columnFor);
      // Interleave so both splits hold both kinds of image (the CSVs are sorted by class).
      const val = mapped.filter((_, index) => index % Math.round(mapped.length / valCount) === 0);
      const train = mapped.filter((sample) => !val.includes(sample));
      const trainAnn = join(workDir, `${task.name}-train.txt`);
      const valAnn = join(workDir, `${task.name}-val.txt`);
      await writeAnnotationFile(trainAnn, train, { task });
      await writeAnnotationFile(valAnn, val, { task });
      const lines = await medfm([
        "train",
        "--task",
        task.name,
        "--data-root",
        join(samples, task.name, "images"),
        "--train-ann",
        trainAnn,
        "--val-ann",
        valAnn,
        "--epochs",
        "2",
        "--image-size",
        "64",
        "--batch-size",
        "8",
        "--output",
        join(workDir, `ck-${task.name}`),
      ]);
      expect(lines.filter((line) => line.startsWith("epoch "))).toHaveLength(2);
      const runPath = lines.at(-1)!.match(/stored in (.+)$/)![1];
      const run = readRun(runPath);
      expect(run.status).toBe("finished");
      expect(run.files["eval/predictions"]).toBeDefined();
      const report = (await medfm(["report", runPath]))[0].match(/written to (.+)$/)![1];
      const html = readFileSync(report, "utf8");
      expect(html).toContain("Per-class results");
      expect(html).toContain(`${val.length} samples`);
      if (task.kind === "multi-class") expect(html).toContain('class="confusion"');
    });
  }
});
