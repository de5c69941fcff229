import { parse } from "csv-parse/sync";
import type { Sample } from "../types";
import {
  addError,
  checkSinglePositive,
  oneHot,
  type ParseContext,
  type ParsedEntries,
  type ParsedEntry,
  parseBinaryLabels,
} from "./parse-context";

const nameColumnCandidates = [
  "image",
  "img_path",
  "path",
  "filename",
  "file",
  "name",
  "image index",
];
const groupColumnCandidates = ["patient_id", "patient id", "study_id", "study id"];

/** Reports an empty row or one whose column count differs from the header; false for either. */
function rowHasHeaderShape(
  record: readonly string[],
  columns: number,
  line: number,
  context: ParseContext,
): boolean {
  if (record.length === 1 && record[0].trim() === "") {
    addError(context, "empty-line", line, record[0], "empty or whitespace-only line");
    return false;
  }
  if (record.length !== columns) {
    addError(
      context,
      "label-count",
      line,
      record.join(","),
      `expected ${columns} columns (header), got ${record.length}`,
    );
    return false;
  }
  return true;
}

function findColumn(header: readonly string[], candidates: readonly string[]): number {
  for (const candidate of candidates) {
    const index = header.findIndex((column) => column.trim().toLowerCase() === candidate);
    if (index >= 0) return index;
  }
  return -1;
}

const labelColumnCandidates = ["label", "class", "target"];

/** A cell that is a value (a number, `nan`, `inf`) or an image file name, never a column name. */
const dataCellPattern =
  /^([-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?|[-+]?(nan|inf|infinity)|.+\.(png|jpe?g|bmp|tiff?|dcm|gif|webp))$/i;

/**
 * Describes why a header row looks like a data row (a cell that is a number or an image file
 * name), so a headerless file is refused instead of losing its first row to the header.
 */
function headerLooksLikeData(header: readonly string[]): string | undefined {
  const position = header.findIndex((column) => dataCellPattern.test(column));
  if (position < 0) return undefined;
  return `line 1 looks like a data row, not a CSV header (column ${position + 1} is ${JSON.stringify(header[position])}); CSV annotations need a header row naming the columns`;
}

/**
 * Reports each value of a column that holds 0/1 on most rows but not on all: a label column with
 * bad values, which would otherwise be taken silently as metadata. True when any was reported.
 */
function reportBrokenLabelColumn(
  rows: ReadonlyArray<{ record: string[]; info: { lines: number } }>,
  header: readonly string[],
  index: number,
  context: ParseContext,
): boolean {
  let binary = 0;
  let other = 0;
  for (const { record } of rows) {
    const value = record[index]?.trim();
    if (value === undefined) continue;
    if (value === "0" || value === "1") binary += 1;
    else other += 1;
  }
  if (other === 0 || binary <= other) return false;
  for (const { record, info } of rows) {
    const value = record[index]?.trim();
    if (value === undefined || value === "0" || value === "1") continue;
    addError(
      context,
      "label-value",
      info.lines,
      record.join(","),
      `column ${JSON.stringify(header[index])} is ${JSON.stringify(value)}, expected 0 or 1 (${binary} of its ${binary + other} rows are 0/1, so it looks like a label column; pass a task to say which columns are classes)`,
    );
  }
  return true;
}

/** A multi-class CSV with one `label` column holding a class name or index per row. */
function parseLabelColumn(
  rows: ReadonlyArray<{ record: string[]; info: { lines: number } }>,
  header: readonly string[],
  columns: { nameIndex: number; groupIndex: number; labelIndex: number },
  context: ParseContext,
): ParsedEntries {
  const classes = context.task!.classes;
  const entries: ParsedEntry[] = [];
  for (const { record, info } of rows) {
    const line = info.lines;
    const lineText = record.join(",");
    if (!rowHasHeaderShape(record, header.length, line, context)) continue;
    const value = record[columns.labelIndex].trim();
    let index = classes.indexOf(value);
    if (index < 0 && /^\d+$/.test(value) && Number(value) < classes.length) index = Number(value);
    if (index < 0) {
      addError(
        context,
        "unknown-class",
        line,
        lineText,
        `label ${JSON.stringify(value)} is not a class of task ${context.task!.name} (${classes.join(", ")})`,
      );
      continue;
    }
    const entry: ParsedEntry = {
      name: record[columns.nameIndex].trim(),
      labels: oneHot(index, classes.length),
      line,
      text: lineText,
    };
    if (columns.groupIndex >= 0) entry.group = record[columns.groupIndex].trim();
    const metadata: Record<string, string> = {};
    let hasMetadata = false;
    header.forEach((column, position) => {
      if (
        position === columns.nameIndex ||
        position === columns.groupIndex ||
        position === columns.labelIndex
      )
        return;
      metadata[column] = record[position];
      hasMetadata = true;
    });
    if (hasMetadata) entry.metadata = metadata;
    entries.push(entry);
  }
  return { entries, classes, classCount: classes.length, labelled: true };
}

/**
 * Parses CSV with a header: a name column, one 0/1 column per class (the task's class names, or
 * without a task every column whose values are all 0/1), an optional group column; every other
 * column is kept as metadata. Without a task, a column holding 0/1 on most rows but something
 * else on some (a `2`, `-1`, `nan`) is reported on each such row rather than taken as metadata,
 * and a first row that looks like data (a number or an image name) is refused as a header. A multi-class task may instead have one `label` (or `class`,
 * `target`) column holding a class name or index.
 */
export function parseCsvAnnotations(text: string, context: ParseContext): ParsedEntries {
  const task = context.task;
  const options = context.options;
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: false,
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const line = Number((error as { lines?: number }).lines ?? 0);
    addError(
      context,
      "syntax",
      line,
      text.split("\n")[Math.max(0, line - 1)] ?? "",
      `invalid CSV (${message})`,
    );
    return {
      entries: [],
      classes: task?.classes,
      classCount: task?.classes.length ?? 0,
      labelled: true,
    };
  }
  if (records.length === 0) {
    addError(context, "format", 0, "", "CSV file has no header row");
    return {
      entries: [],
      classes: task?.classes,
      classCount: task?.classes.length ?? 0,
      labelled: true,
    };
  }
  const header = records[0].record.map((column) => column.trim());
  const rows = records.slice(1);
  const headerProblem = task?.classes.every((className) => header.includes(className))
    ? undefined
    : headerLooksLikeData(header);
  if (headerProblem) {
    addError(context, "format", 1, records[0].record.join(","), headerProblem);
    return {
      entries: [],
      classes: task?.classes,
      classCount: task?.classes.length ?? 0,
      labelled: true,
    };
  }
  const nameIndex = options.nameColumn
    ? header.indexOf(options.nameColumn)
    : Math.max(0, findColumn(header, nameColumnCandidates));
  if (nameIndex < 0) {
    addError(
      context,
      "format",
      1,
      header.join(","),
      `no name column ${JSON.stringify(options.nameColumn)}`,
    );
    return { entries: [], classes: task?.classes, classCount: 0, labelled: true };
  }
  const groupIndex = options.groupColumn
    ? header.indexOf(options.groupColumn)
    : findColumn(header, groupColumnCandidates);
  if (options.groupColumn && groupIndex < 0) {
    addError(
      context,
      "format",
      1,
      header.join(","),
      `no group column ${JSON.stringify(options.groupColumn)}`,
    );
  }
  let classIndices: number[];
  let classes: string[];
  if (task) {
    classIndices = task.classes.map((className) => {
      const exact = header.indexOf(className);
      return exact >= 0
        ? exact
        : header.findIndex((column) => column.toLowerCase() === className.toLowerCase());
    });
    const missing = task.classes.filter((_, index) => classIndices[index] < 0);
    const labelIndex = findColumn(header, labelColumnCandidates);
    if (missing.length === task.classes.length && task.kind === "multi-class" && labelIndex >= 0) {
      return parseLabelColumn(rows, header, { nameIndex, groupIndex, labelIndex }, context);
    }
    if (missing.length > 0) {
      addError(
        context,
        "format",
        1,
        header.join(","),
        `header lacks class columns of task ${task.name}: ${missing.join(", ")}`,
      );
      return {
        entries: [],
        classes: task.classes,
        classCount: task.classes.length,
        labelled: true,
      };
    }
    classes = [...task.classes];
  } else {
    classIndices = header
      .map((_, index) => index)
      .filter(
        (index) =>
          index !== nameIndex &&
          index !== groupIndex &&
          rows.length > 0 &&
          rows.every(({ record }) => {
            const value = record[index]?.trim();
            return value === "0" || value === "1";
          }),
      );
    classes = classIndices.map((index) => header[index]);
    let brokenLabelColumn = false;
    for (let index = 0; index < header.length; index += 1) {
      if (index === nameIndex || index === groupIndex || classIndices.includes(index)) continue;
      if (reportBrokenLabelColumn(rows, header, index, context)) brokenLabelColumn = true;
    }
    if (classes.length === 0 && !brokenLabelColumn) {
      addError(
        context,
        "format",
        1,
        header.join(","),
        "no class columns (columns holding only 0/1)",
      );
    }
  }
  const used = new Set([nameIndex, groupIndex, ...classIndices]);
  const entries: ParsedEntry[] = [];
  for (const { record, info } of rows) {
    const line = info.lines;
    const lineText = record.join(",");
    if (!rowHasHeaderShape(record, header.length, line, context)) continue;
    const name = record[nameIndex].trim();
    const labels = parseBinaryLabels(
      classIndices.map((index) => record[index].trim()),
      context,
      line,
      lineText,
    );
    if (!labels || !checkSinglePositive(labels, context, line, lineText)) continue;
    const entry: ParsedEntry = { name, labels, line, text: lineText };
    if (groupIndex >= 0) entry.group = record[groupIndex].trim();
    const metadata: Record<string, string> = {};
    let hasMetadata = false;
    header.forEach((column, index) => {
      if (used.has(index)) return;
      metadata[column] = record[index];
      hasMetadata = true;
    });
    if (hasMetadata) entry.metadata = metadata;
    entries.push(entry);
  }
  return { entries, classes, classCount: classes.length, labelled: true };
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) || value !== value.trim()
    ? `"${value.replaceAll('"', '""')}"`
    : value;
}

/**
 * Writes samples as CSV: `image`, one 0/1 column per class, `patient_id` when samples have
 * groups, then the metadata columns found on any sample.
 */
export function formatCsvAnnotations(
  samples: readonly Sample[],
  classes: readonly string[],
): string {
  const hasGroup = samples.some((sample) => sample.group !== undefined);
  const metadataColumns: string[] = [];
  for (const sample of samples) {
    for (const key of Object.keys(sample.metadata ?? {})) {
      if (!metadataColumns.includes(key)) metadataColumns.push(key);
    }
  }
  const header = ["image", ...classes, ...(hasGroup ? ["patient_id"] : []), ...metadataColumns];
  const lines = [header.map(csvField).join(",")];
  for (const sample of samples) {
    const row = [
      sample.name,
      ...Array.from(sample.labels, String),
      ...(hasGroup ? [sample.group ?? ""] : []),
      ...metadataColumns.map((key) => sample.metadata?.[key] ?? ""),
    ];
    lines.push(row.map(csvField).join(","));
  }
  return `${lines.join("\n")}\n`;
}
