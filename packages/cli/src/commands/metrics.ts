import { readFile } from "node:fs/promises";
import { getTask, type MedfmTask, readAnnotationFile, type Sample } from "@medfm/data";
import {
  type AveragePrecisionDefinition,
  accuracy,
  type ClassFlag,
  meanAveragePrecision,
  meanRocAuc,
  rocAuc,
  sensitivitySpecificity,
} from "@medfm/metrics";
import { type Command, Option } from "commander";
import { parse } from "csv-parse/sync";

/** Options of `medfm metrics`, as commander parses them. */
interface MetricsCommandOptions {
  task: "chest" | "colon" | "endo";
  scores: string;
  labels: string;
  json?: boolean;
  apDefinition: AveragePrecisionDefinition;
}

/** One row of a MedFM submission CSV. */
interface ScoreRow {
  name: string;
  scores: number[];
  line: number;
}

/** What `medfm metrics --json` prints for chest and endo. */
export interface MultiLabelMetricsReport {
  task: "chest" | "endo";
  samples: number;
  /** Mean average precision (mmpretrain's definition unless `--ap-definition sklearn`), 0 to 1. */
  mAP: number;
  /** Macro ROC AUC over the classes where it is defined, 0 to 1 (null when none is). */
  AUC: number | null;
  /** Per-class AP, in the task's class order. */
  AP: number[];
  /** Per-class AUC; null where a class's targets are all one value. */
  AUCPerClass: (number | null)[];
  classes: string[];
  apDefinition: AveragePrecisionDefinition;
  /** Classes with degenerate targets and what was done about them. */
  notes: string[];
}

/** What `medfm metrics --json` prints for colon. */
export interface ColonMetricsReport {
  task: "colon";
  samples: number;
  /** Top-1 accuracy, 0 to 1. */
  accuracy: number;
  /** ROC AUC ranking by the softmax probability of `positive` (null with a single class present). */
  AUC: number | null;
  /** Recall of `positive` at the argmax prediction. */
  sensitivity: number | null;
  /** Recall of `negative` at the argmax prediction. */
  specificity: number | null;
  classes: string[];
  notes: string[];
}

/** Reads a MedFM submission CSV: `name,score1,...,scoreC` per line, no header. */
async function readScoresFile(path: string, classes: number): Promise<ScoreRow[]> {
  const text = await readFile(path, "utf8");
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      info: true,
      skip_empty_lines: true,
      relax_column_count: true,
    }) as unknown as typeof records;
  } catch (error) {
    throw new Error(`${path}: not a valid CSV (${(error as Error).message})`, { cause: error });
  }
  const rows: ScoreRow[] = [];
  for (const { record, info } of records) {
    const line = info.lines;
    if (record.length !== classes + 1) {
      throw new Error(
        `${path}:${line}: has ${record.length} columns; expected a name and ${classes} scores`,
      );
    }
    const scores = record.slice(1).map((cell, index) => {
      const value = cell.trim() === "" ? Number.NaN : Number(cell);
      if (!Number.isFinite(value)) {
        const hint = rows.length === 0 ? " (the file must have no header row)" : "";
        throw new Error(
          `${path}:${line}: score ${index + 1} is ${JSON.stringify(cell)}; expected a finite number${hint}`,
        );
      }
      return value;
    });
    rows.push({ name: record[0], scores, line });
  }
  if (rows.length === 0) throw new Error(`${path}: has no rows`);
  return rows;
}

function listNames(names: readonly string[], limit = 20): string {
  const shown = names.slice(0, limit).map((name) => JSON.stringify(name));
  return names.length > limit
    ? `${shown.join(", ")} and ${names.length - limit} more`
    : shown.join(", ");
}

/** Pairs every labelled sample with its score row by name; any mismatch is one error listing all. */
function matchRows(
  scoreRows: readonly ScoreRow[],
  samples: readonly Sample[],
  scoresPath: string,
  labelsPath: string,
): { scores: number[][]; samples: Sample[] } {
  const byName = new Map<string, ScoreRow>();
  const repeated: string[] = [];
  for (const row of scoreRows) {
    const previous = byName.get(row.name);
    if (previous)
      repeated.push(`${JSON.stringify(row.name)} (lines ${previous.line} and ${row.line})`);
    else byName.set(row.name, row);
  }
  if (repeated.length > 0) {
    throw new Error(`${scoresPath}: names repeated: ${repeated.slice(0, 20).join(", ")}`);
  }
  const labelled = new Set(samples.map((sample) => sample.name));
  const missing = samples.filter((sample) => !byName.has(sample.name)).map((sample) => sample.name);
  const extra = scoreRows.filter((row) => !labelled.has(row.name)).map((row) => row.name);
  const problems: string[] = [];
  if (missing.length > 0) {
    problems.push(`${missing.length} labelled names have no scores: ${listNames(missing)}`);
  }
  if (extra.length > 0) {
    problems.push(`${extra.length} scored names are not in ${labelsPath}: ${listNames(extra)}`);
  }
  if (problems.length > 0) throw new Error(`${scoresPath}: ${problems.join("; ")}`);
  return {
    scores: samples.map((sample) => byName.get(sample.name)!.scores),
    samples: [...samples],
  };
}

function nullable(value: number): number | null {
  return Number.isNaN(value) ? null : value;
}

function noteOf(flag: ClassFlag, classes: readonly string[], metric: string): string {
  return `${metric}: ${flag.note.replace(`class ${flag.classIndex}`, `class ${flag.classIndex} (${classes[flag.classIndex]})`)}`;
}

/** Computes the report of one task from matched score rows and samples. */
export function computeMetricsReport(
  task: MedfmTask,
  scores: number[][],
  samples: readonly Sample[],
  apDefinition: AveragePrecisionDefinition = "mmpretrain",
): MultiLabelMetricsReport | ColonMetricsReport {
  const targets = samples.map((sample) => sample.labels);
  const classes = [...task.classes];
  if (task.kind === "multi-class") {
    const labels = samples.map((sample) => sample.labels.indexOf(1));
    // Rank by the softmax probability itself, not the logit difference: where float rounding
    // merges near-equal probabilities into ties, the baseline sees those ties too. Math.exp and
    // glibc's exp can differ in the last bit, so rows whose logit differences are equal up to
    // rounding may tie here and not in numpy (2e-7 of AUC on 3,296 colon rows of 4-decimal logits).
    const positive = scores.map((row) => {
      const max = Math.max(row[0], row[1]);
      const negativeWeight = Math.exp(row[0] - max);
      const positiveWeight = Math.exp(row[1] - max);
      return positiveWeight / (negativeWeight + positiveWeight);
    });
    const auc = rocAuc(positive, labels);
    const rates = sensitivitySpecificity(scores, labels, { positiveClass: 1 });
    const notes = Number.isNaN(auc)
      ? ["AUC: the labels hold a single class; AUC is undefined (null)"]
      : [];
    return {
      task: "colon",
      samples: samples.length,
      accuracy: accuracy(scores, labels),
      AUC: nullable(auc),
      sensitivity: nullable(rates.sensitivity),
      specificity: nullable(rates.specificity),
      classes,
      notes,
    };
  }
  const ap = meanAveragePrecision(scores, targets, { definition: apDefinition });
  const auc = meanRocAuc(scores, targets);
  return {
    task: task.name as "chest" | "endo",
    samples: samples.length,
    mAP: ap.value,
    AUC: nullable(auc.value),
    AP: ap.perClass,
    AUCPerClass: auc.perClass.map(nullable),
    classes,
    apDefinition,
    notes: [
      ...ap.flags.map((flag) => noteOf(flag, classes, "AP")),
      ...auc.flags.map((flag) => noteOf(flag, classes, "AUC")),
    ],
  };
}

function formatNumber(value: number | null): string {
  return value === null ? "n/a" : value.toFixed(4);
}

function formatReport(report: MultiLabelMetricsReport | ColonMetricsReport): string {
  const lines = [`${report.task}: ${report.samples} samples`];
  if (report.task === "colon") {
    lines.push(
      `accuracy     ${formatNumber(report.accuracy)}`,
      `AUC          ${formatNumber(report.AUC)}`,
      `sensitivity  ${formatNumber(report.sensitivity)}`,
      `specificity  ${formatNumber(report.specificity)}`,
    );
  } else {
    const width = Math.max(...report.classes.map((name) => name.length));
    lines.push(
      `mAP  ${formatNumber(report.mAP)}  (${report.apDefinition})`,
      `AUC  ${formatNumber(report.AUC)}`,
      "",
      `${"class".padEnd(width)}  AP      AUC`,
      ...report.classes.map(
        (name, index) =>
          `${name.padEnd(width)}  ${formatNumber(report.AP[index])}  ${formatNumber(report.AUCPerClass[index])}`,
      ),
    );
  }
  if (report.notes.length > 0) lines.push("", "notes:", ...report.notes.map((note) => `  ${note}`));
  return `${lines.join("\n")}\n`;
}

/** Registers `medfm metrics`: challenge metrics of a submission CSV against an annotation file. */
export function registerMetricsCommand(program: Command): void {
  program
    .command("metrics")
    .description(
      "Score a MedFM submission CSV (name,score1,...,scoreC; no header) against a MedFMC annotation file",
    )
    .addOption(
      new Option("--task <task>", "the MedFM task")
        .choices(["chest", "colon", "endo"])
        .makeOptionMandatory(),
    )
    .requiredOption(
      "--scores <file>",
      "submission CSV: one line per image, name then one score per class",
    )
    .requiredOption(
      "--labels <file>",
      "MedFMC annotation file with labels (e.g. test_WithLabel.txt)",
    )
    .addOption(
      new Option("--ap-definition <definition>", "average precision definition")
        .choices(["mmpretrain", "sklearn"])
        .default("mmpretrain"),
    )
    .option("--json", "print the metrics as JSON (fractions from 0 to 1)")
    .action(async (options: MetricsCommandOptions, command: Command) => {
      const task = getTask(options.task);
      const annotations = await readAnnotationFile(options.labels, {
        task,
        format: "medfmc",
        duplicates: "drop",
      });
      if (!annotations.labelled) {
        throw new Error(`${options.labels}: has no labels (a test_WithoutLabel list?)`);
      }
      const scoreRows = await readScoresFile(options.scores, task.classes.length);
      const matched = matchRows(scoreRows, annotations.samples, options.scores, options.labels);
      const report = computeMetricsReport(
        task,
        matched.scores,
        matched.samples,
        options.apDefinition,
      );
      const dropped = annotations.warnings.length;
      if (dropped > 0) {
        report.notes.push(
          `${options.labels}: ${dropped} warnings while reading (identical duplicate lines are counted once)`,
        );
      }
      const output = command.configureOutput();
      const write = output.writeOut ?? ((text: string) => process.stdout.write(text));
      write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    });
}
