import type { Sample } from "../types";
import { checkLineShape } from "./medfmc-text";
import {
  addError,
  checkSinglePositive,
  type ParseContext,
  type ParsedEntries,
  type ParsedEntry,
} from "./parse-context";
import type { TextLine } from "./text-lines";

/**
 * Parses `path label` lines. The label is the last token: a class name or index; for a
 * multi-label task a comma-separated list of them, or `-` for no positive. Needs class names
 * (from the task) to read names; without a task, labels must be indices.
 */
export function parsePathLabelList(
  lines: readonly TextLine[],
  context: ParseContext,
): ParsedEntries {
  const task = context.task;
  const classes = task?.classes;
  const multiLabel = task ? task.kind === "multi-label" : false;
  const raw: Array<{ entry: ParsedEntry; indices: number[] }> = [];
  let maxIndex = -1;
  for (const line of lines) {
    if (!checkLineShape(line, context)) continue;
    const match = /^(.*\S)\s+(\S+)$/.exec(line.text);
    if (!match) {
      addError(context, "syntax", line.number, line.text, "expected `path label`, found no label");
      continue;
    }
    const [, name, labelText] = match;
    const parts = labelText === "-" ? [] : labelText.split(",");
    if (!multiLabel && parts.length !== 1) {
      addError(
        context,
        "label-count",
        line.number,
        line.text,
        `expected one label for a multi-class list, got ${parts.length}`,
      );
      continue;
    }
    const indices: number[] = [];
    let ok = true;
    for (const part of parts) {
      let index = classes ? classes.indexOf(part) : -1;
      if (index < 0 && /^\d+$/.test(part)) index = Number(part);
      if (index < 0 || (classes && index >= classes.length)) {
        ok = false;
        addError(
          context,
          "unknown-class",
          line.number,
          line.text,
          classes
            ? `label ${JSON.stringify(part)} is not a class of task ${task?.name} (${classes.join(", ")})`
            : `label ${JSON.stringify(part)} is not a class index (give a task to read class names)`,
        );
        continue;
      }
      if (indices.includes(index)) {
        ok = false;
        addError(
          context,
          "label-value",
          line.number,
          line.text,
          `label ${JSON.stringify(part)} repeated`,
        );
        continue;
      }
      indices.push(index);
      maxIndex = Math.max(maxIndex, index);
    }
    if (!ok) continue;
    raw.push({
      entry: { name, labels: new Uint8Array(0), line: line.number, text: line.text },
      indices,
    });
  }
  const classCount = classes ? classes.length : Math.max(2, maxIndex + 1);
  const entries: ParsedEntry[] = [];
  for (const { entry, indices } of raw) {
    entry.labels = new Uint8Array(classCount);
    for (const index of indices) entry.labels[index] = 1;
    if (!checkSinglePositive(entry.labels, context, entry.line, entry.text)) continue;
    entries.push(entry);
  }
  return { entries, classes, classCount, labelled: true };
}

/** Writes a sample as a `path label` line with class names (`-` when no label is positive). */
export function formatPathLabelLine(sample: Sample, classes: readonly string[]): string {
  const names: string[] = [];
  sample.labels.forEach((value, index) => {
    if (value === 1) names.push(classes[index] ?? String(index));
  });
  return `${sample.name} ${names.length === 0 ? "-" : names.join(",")}`;
}
