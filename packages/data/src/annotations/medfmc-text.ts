import { textLayoutOf } from "../tasks";
import type { Sample, TaskDefinition } from "../types";
import {
  addError,
  checkSinglePositive,
  oneHot,
  type ParseContext,
  type ParsedEntries,
  type ParsedEntry,
  parseBinaryLabels,
} from "./parse-context";
import type { TextLine } from "./text-lines";

/** The MedFMC text formats. */
export type MedfmcTextFormat = "medfmc-comma" | "medfmc-space" | "medfmc-index" | "medfmc-names";

/** The MedFMC text format a task's files use (`medfmc-comma` for chest, `-space` endo, `-index` colon). */
export function medfmcFormatOf(task: TaskDefinition): MedfmcTextFormat {
  const layout = textLayoutOf(task);
  return layout === "comma" ? "medfmc-comma" : layout === "space" ? "medfmc-space" : "medfmc-index";
}

/** Reports leading or trailing whitespace; returns false when the line is blank or padded. */
export function checkLineShape(line: TextLine, context: ParseContext): boolean {
  if (line.text.trim() === "") {
    addError(context, "empty-line", line.number, line.text, "empty or whitespace-only line");
    return false;
  }
  if (line.text !== line.text.trim()) {
    addError(
      context,
      "syntax",
      line.number,
      line.text,
      "leading or trailing whitespace around the line",
    );
    return false;
  }
  return true;
}

/** Splits a labelled MedFMC line into its name and label tokens; undefined when it has no label. */
function splitMedfmcLine(
  text: string,
  format: Exclude<MedfmcTextFormat, "medfmc-names">,
): { name: string; tokens: string[] } | undefined {
  if (format === "medfmc-space") {
    const parts = text.split(/\s+/);
    return { name: parts[0], tokens: parts.slice(1) };
  }
  const match = /^(.*\S)\s+(\S+)$/.exec(text);
  if (!match) return undefined;
  return { name: match[1], tokens: format === "medfmc-comma" ? match[2].split(",") : [match[2]] };
}

/**
 * The label count most well-formed lines have (the earliest on a tie) and the first line that
 * has it; undefined count when no line has labels.
 */
function commonLabelCount(
  lines: readonly TextLine[],
  format: "medfmc-comma" | "medfmc-space",
): { count: number | undefined; line: number } {
  const tally = new Map<number, { lines: number; first: number }>();
  for (const line of lines) {
    if (line.text.trim() === "" || line.text !== line.text.trim()) continue;
    const tokens = splitMedfmcLine(line.text, format)?.tokens;
    if (!tokens || tokens.length === 0) continue;
    const entry = tally.get(tokens.length);
    if (entry) entry.lines += 1;
    else tally.set(tokens.length, { lines: 1, first: line.number });
  }
  let best: { count: number | undefined; line: number } = { count: undefined, line: 0 };
  let bestLines = 0;
  for (const [count, entry] of tally) {
    if (entry.lines > bestLines || (entry.lines === bestLines && entry.first < best.line)) {
      best = { count, line: entry.first };
      bestLines = entry.lines;
    }
  }
  return best;
}

/**
 * Parses MedFMC text lines: `name 0,1,...` (comma), `name 0 1 0 0` (space; the name is the first
 * token), `name with spaces 1` (index; the label is the last token) or names only.
 */
export function parseMedfmcText(
  lines: readonly TextLine[],
  format: MedfmcTextFormat,
  context: ParseContext,
): ParsedEntries {
  const entries: ParsedEntry[] = [];
  const task = context.task;
  if (format === "medfmc-names") {
    for (const line of lines) {
      if (!checkLineShape(line, context)) continue;
      entries.push({
        name: line.text,
        labels: new Uint8Array(0),
        line: line.number,
        text: line.text,
      });
    }
    return { entries, classes: task?.classes, classCount: 0, labelled: false };
  }
  let expected = task ? task.classes.length : undefined;
  let expectedFrom = 0;
  if (expected === undefined && format !== "medfmc-index") {
    // Without a task the label count is the one most lines have, so one bad line (even the
    // first) is reported itself instead of making every other line wrong.
    ({ count: expected, line: expectedFrom } = commonLabelCount(lines, format));
  }
  const indexEntries: Array<{ entry: ParsedEntry; index: number }> = [];
  for (const line of lines) {
    if (!checkLineShape(line, context)) continue;
    const text = line.text;
    const split = splitMedfmcLine(text, format);
    if (!split) {
      addError(context, "syntax", line.number, text, "expected `name label`, found no label");
      continue;
    }
    const { name, tokens } = split;
    if (tokens.length === 0) {
      addError(context, "label-count", line.number, text, "line has a name but no labels");
      continue;
    }
    if (format === "medfmc-index") {
      const token = tokens[0];
      if (!/^\d+$/.test(token)) {
        addError(
          context,
          "label-value",
          line.number,
          text,
          `label ${JSON.stringify(token)} is not a class index`,
        );
        continue;
      }
      const index = Number(token);
      if (expected !== undefined && index >= expected) {
        addError(
          context,
          "label-value",
          line.number,
          text,
          `class index ${index} is out of range for ${expected} classes${task ? ` of task ${task.name}` : ""}`,
        );
        continue;
      }
      const entry: ParsedEntry = { name, labels: new Uint8Array(0), line: line.number, text };
      indexEntries.push({ entry, index });
      entries.push(entry);
      continue;
    }
    if (expected === undefined) {
      expected = tokens.length;
      expectedFrom = line.number;
    } else if (tokens.length !== expected) {
      const source = task ? `task ${task.name}` : `as most lines, first line ${expectedFrom}`;
      addError(
        context,
        "label-count",
        line.number,
        text,
        `expected ${expected} labels (${source}), got ${tokens.length}`,
      );
      continue;
    }
    const labels = parseBinaryLabels(tokens, context, line.number, text);
    if (!labels || !checkSinglePositive(labels, context, line.number, text)) continue;
    entries.push({ name, labels, line: line.number, text });
  }
  if (format === "medfmc-index") {
    // A loop, not `Math.max(...spread)`: a spread of one argument per line overflows the stack.
    let classCount = expected ?? 2;
    if (expected === undefined) {
      for (const item of indexEntries) if (item.index >= classCount) classCount = item.index + 1;
    }
    for (const { entry, index } of indexEntries) entry.labels = oneHot(index, classCount);
    return { entries, classes: task?.classes, classCount, labelled: true };
  }
  return { entries, classes: task?.classes, classCount: expected ?? 0, labelled: true };
}

/** Writes one sample as a MedFMC text line (no line ending). */
export function formatMedfmcLine(sample: Sample, format: MedfmcTextFormat): string {
  const labels = Array.from(sample.labels);
  switch (format) {
    case "medfmc-names":
      return sample.name;
    case "medfmc-comma":
      return `${sample.name} ${labels.join(",")}`;
    case "medfmc-space":
      return `${sample.name} ${labels.join(" ")}`;
    case "medfmc-index":
      return `${sample.name} ${labels.indexOf(1)}`;
  }
}
