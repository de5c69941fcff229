import type { Sample } from "../types";
import {
  addError,
  oneHot,
  type ParseContext,
  type ParsedEntries,
  type ParsedEntry,
} from "./parse-context";

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i += 1) if (text.charCodeAt(i) === 10) line += 1;
  return line;
}

function parseErrorMessage(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Offset of the character that makes `text` invalid JSON. Node 20 does not always say where:
 * a prefix that stops before the fault fails only as truncated, so search for the shortest prefix
 * that fails otherwise.
 */
function jsonErrorOffset(text: string): number {
  const truncated = (message: string | undefined) =>
    message === undefined || /end of JSON input|Unterminated string/i.test(message);
  let low = 1;
  let high = text.length;
  if (truncated(parseErrorMessage(text))) return text.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (truncated(parseErrorMessage(text.slice(0, middle)))) low = middle + 1;
    else high = middle;
  }
  return low - 1;
}

/**
 * Where the document's parts start, found by one scan of (already valid) JSON text: the line
 * of each element of the root object's `data_list` array (the last `data_list` key, as
 * `JSON.parse` keeps the last), and of the root's `metainfo` key. Iterative, so neither depth
 * nor length can overflow the stack.
 */
function documentLines(text: string): { entries: number[]; metainfo: number } {
  let entries: number[] = [];
  let metainfo = 0;
  let line = 1;
  // Open containers: true for an object, false for an array.
  const stack: boolean[] = [];
  let lastString = "";
  let rootKey = "";
  // Set once the root's `data_list` array opens, at depth 2; a new element starts at the next value.
  let inDataList = false;
  let expectValue = false;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === 10) {
      line += 1;
      continue;
    }
    if (code === 32 || code === 9 || code === 13) continue;
    const depth = stack.length;
    if (inDataList && depth === 2 && expectValue && code !== 93 /* ] */) {
      entries.push(line);
      expectValue = false;
    }
    if (code === 34 /* " */) {
      const start = i + 1;
      for (i += 1; i < text.length && text.charCodeAt(i) !== 34; i += 1) {
        if (text.charCodeAt(i) === 92 /* \ */) i += 1;
      }
      lastString = text.slice(start, i);
    } else if (code === 58 /* : */) {
      if (depth === 1) {
        rootKey = lastString;
        if (rootKey === "metainfo") metainfo = line;
      }
    } else if (code === 44 /* , */) {
      if (inDataList && depth === 2) expectValue = true;
    } else if (code === 123 /* { */ || code === 91 /* [ */) {
      stack.push(code === 123);
      if (depth === 1 && code === 91 && rootKey === "data_list") {
        entries = [];
        inDataList = true;
        expectValue = true;
      }
    } else if (code === 125 /* } */ || code === 93 /* ] */) {
      stack.pop();
      if (inDataList && depth === 2) inDataList = false;
    }
  }
  return { entries, metainfo };
}

/**
 * Parses an mmpretrain annotation file: `{ metainfo: { classes }, data_list: [{ img_path,
 * gt_label }] }`, `gt_label` a class index (single-label) or a list of indices (multi-label).
 * Keys other than `img_path` and `gt_label` are kept as metadata (as JSON text).
 */
export function parseMmpretrainJson(text: string, context: ParseContext): ParsedEntries {
  const task = context.task;
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const line = lineAt(text, jsonErrorOffset(text));
    const lineText = line > 0 ? (text.split("\n")[line - 1] ?? "") : text.slice(0, 80);
    addError(context, "syntax", line, lineText, `invalid JSON (${message})`);
    return {
      entries: [],
      classes: task?.classes,
      classCount: task?.classes.length ?? 0,
      labelled: true,
    };
  }
  const root = document as { metainfo?: { classes?: unknown }; data_list?: unknown };
  if (typeof root !== "object" || root === null || !Array.isArray(root.data_list)) {
    addError(
      context,
      "format",
      0,
      text.slice(0, 80),
      "expected an object with a `data_list` array",
    );
    return {
      entries: [],
      classes: task?.classes,
      classCount: task?.classes.length ?? 0,
      labelled: true,
    };
  }
  const positions = documentLines(text);
  let classes: readonly string[] | undefined;
  const fileClasses = root.metainfo?.classes;
  if (fileClasses !== undefined) {
    if (!Array.isArray(fileClasses) || fileClasses.some((name) => typeof name !== "string")) {
      addError(
        context,
        "format",
        positions.metainfo,
        JSON.stringify(fileClasses),
        "`metainfo.classes` must be a list of names",
      );
    } else {
      classes = fileClasses as string[];
    }
  }
  if (task && classes && classes.join("\n") !== task.classes.join("\n")) {
    const line = lineAt(text, text.indexOf('"classes"'));
    addError(
      context,
      "format",
      line,
      JSON.stringify(classes),
      `metainfo.classes differ from task ${task.name} (${task.classes.join(", ")})`,
    );
  }
  classes = task?.classes ?? classes;
  const items = root.data_list as unknown[];
  const lines = positions.entries;
  const multiLabel = task
    ? task.kind === "multi-label"
    : items.some((item) => Array.isArray((item as { gt_label?: unknown })?.gt_label));
  let maxIndex = -1;
  const raw: Array<{ entry: ParsedEntry; indices: number[] }> = [];
  items.forEach((item, position) => {
    const line = lines[position] ?? 0;
    const itemText = JSON.stringify(item);
    const record = item as { img_path?: unknown; gt_label?: unknown };
    if (typeof record !== "object" || record === null || typeof record.img_path !== "string") {
      addError(context, "format", line, itemText, `data_list[${position}] has no string img_path`);
      return;
    }
    const label = record.gt_label;
    const indices = Array.isArray(label) ? label : label === undefined ? undefined : [label];
    if (!indices || (!multiLabel && indices.length !== 1)) {
      addError(
        context,
        "label-count",
        line,
        itemText,
        multiLabel
          ? "gt_label is missing"
          : "gt_label must be one class index for a single-label task",
      );
      return;
    }
    const bad = indices.find(
      (index) =>
        !Number.isInteger(index) ||
        (index as number) < 0 ||
        (classes !== undefined && (index as number) >= classes.length),
    );
    if (bad !== undefined) {
      addError(
        context,
        "label-value",
        line,
        itemText,
        `gt_label ${JSON.stringify(bad)} is not a valid class index`,
      );
      return;
    }
    if (new Set(indices).size !== indices.length) {
      addError(context, "label-value", line, itemText, "gt_label repeats a class index");
      return;
    }
    const metadata: Record<string, string> = {};
    let hasMetadata = false;
    for (const [key, value] of Object.entries(record)) {
      if (key === "img_path" || key === "gt_label") continue;
      metadata[key] = typeof value === "string" ? value : JSON.stringify(value);
      hasMetadata = true;
    }
    for (const index of indices as number[]) maxIndex = Math.max(maxIndex, index);
    const entry: ParsedEntry = {
      name: record.img_path,
      labels: new Uint8Array(0),
      line,
      text: itemText,
    };
    if (hasMetadata) entry.metadata = metadata;
    raw.push({ entry, indices: indices as number[] });
  });
  const classCount = classes ? classes.length : Math.max(multiLabel ? 1 : 2, maxIndex + 1);
  const entries = raw.map(({ entry, indices }) => {
    if (!multiLabel) {
      entry.labels = oneHot(indices[0], classCount);
    } else {
      entry.labels = new Uint8Array(classCount);
      for (const index of indices) entry.labels[index] = 1;
    }
    return entry;
  });
  return { entries, classes, classCount, labelled: true };
}

/** Writes samples as an mmpretrain annotation file (2-space indented JSON, trailing newline). */
export function formatMmpretrainJson(
  samples: readonly Sample[],
  classes: readonly string[],
  multiLabel: boolean,
): string {
  const dataList = samples.map((sample) => {
    const indices: number[] = [];
    sample.labels.forEach((value, index) => {
      if (value === 1) indices.push(index);
    });
    return {
      img_path: sample.name,
      gt_label: multiLabel ? indices : indices[0],
      ...(sample.metadata ?? {}),
    };
  });
  const body = dataList.map((item) => `    ${JSON.stringify(item)}`).join(",\n");
  return `{\n  "metainfo": { "classes": ${JSON.stringify(classes)} },\n  "data_list": [\n${body}\n  ]\n}\n`;
}
