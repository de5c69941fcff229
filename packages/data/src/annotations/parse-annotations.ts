import type { Sample } from "../types";
import { AnnotationError, type AnnotationIssue } from "./annotation-error";
import type {
  AnnotationFormat,
  AnnotationSet,
  DuplicateName,
  ParseAnnotationsOptions,
} from "./annotation-set";
import { parseCsvAnnotations } from "./csv-annotations";
import { detectAnnotationFormat } from "./detect-format";
import { type MedfmcTextFormat, medfmcFormatOf, parseMedfmcText } from "./medfmc-text";
import { parseMmpretrainJson } from "./mmpretrain-json";
import { addError, type ParseContext, type ParsedEntries } from "./parse-context";
import { parsePathLabelList } from "./path-label-list";
import { unsafePathReason } from "./safe-path";
import { splitTextLines } from "./text-lines";

function sameLabels(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

function resolveFormat(text: string, options: ParseAnnotationsOptions): AnnotationFormat {
  const requested = options.format ?? "auto";
  const task = options.task;
  if (requested === "medfmc") {
    const detected = detectAnnotationFormat(text, options.file);
    if (detected === "medfmc-names") return detected;
    if (task) return medfmcFormatOf(task);
    return detected.startsWith("medfmc-") ? detected : "medfmc-comma";
  }
  if (requested !== "auto") return requested;
  const detected = detectAnnotationFormat(text, options.file);
  // A single index per line cannot be a multi-label task's labels: read the task's layout so
  // the error says how many labels were expected.
  if (task && task.kind === "multi-label" && detected === "medfmc-index") {
    return medfmcFormatOf(task);
  }
  return detected;
}

/**
 * Parses annotation text in any supported format (detected unless `format` is given), checks
 * it, and returns its samples. Collects every problem first and throws one
 * {@link AnnotationError} listing them all (file, line, offending text).
 *
 * Checked: label count and values, empty or whitespace-only lines, unsafe names (absolute or
 * with `..`), duplicate names (identical: kept and reported, conflicting: an error).
 * BOM, CRLF and CR-only endings are accepted and reported in `warnings` (errors with `strict`).
 */
export function parseAnnotations(
  text: string,
  options: ParseAnnotationsOptions = {},
): AnnotationSet {
  const file = options.file ?? "<text>";
  const task = options.task;
  const context: ParseContext = { file, task, options, errors: [], warnings: [] };
  const format = resolveFormat(text, options);
  const { lines, issues } = splitTextLines(text, file);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  for (const issue of issues) context.warnings.push(issue);
  let parsed: ParsedEntries;
  switch (format) {
    case "mmpretrain-json":
      parsed = parseMmpretrainJson(body, context);
      break;
    case "csv":
      parsed = parseCsvAnnotations(body, context);
      break;
    case "path-label":
      parsed = parsePathLabelList(lines, context);
      break;
    default:
      parsed = parseMedfmcText(lines, format as MedfmcTextFormat, context);
  }
  if (parsed.entries.length === 0 && context.errors.length === 0) {
    addError(context, "format", 0, text.slice(0, 80), "no annotations found (empty file)");
  }
  const samples: Sample[] = [];
  const firstByName = new Map<string, Sample>();
  const duplicateLines = new Map<string, DuplicateName>();
  const duplicatesPolicy = options.duplicates ?? "keep";
  for (const entry of parsed.entries) {
    const unsafe = unsafePathReason(entry.name);
    if (unsafe) {
      addError(context, "unsafe-path", entry.line, entry.text, unsafe);
      continue;
    }
    const sample: Sample = { name: entry.name, labels: entry.labels, line: entry.line };
    const group = entry.group ?? task?.groupKey?.(entry.name);
    if (group !== undefined) sample.group = group;
    if (entry.metadata) sample.metadata = entry.metadata;
    const first = firstByName.get(entry.name);
    if (first) {
      const same = sameLabels(first.labels, entry.labels);
      let duplicate = duplicateLines.get(entry.name);
      if (!duplicate) {
        duplicate = { name: entry.name, lines: [first.line ?? 0], sameLabels: true };
        duplicateLines.set(entry.name, duplicate);
      }
      duplicate.lines.push(entry.line);
      duplicate.sameLabels &&= same;
      const issue: AnnotationIssue = {
        code: same ? "duplicate" : "conflicting-duplicate",
        file,
        line: entry.line,
        text: entry.text,
        message: same
          ? `duplicate of line ${first.line}${duplicatesPolicy === "drop" ? " (dropped)" : ""}`
          : `duplicate of line ${first.line} with conflicting labels`,
      };
      if (!same || duplicatesPolicy === "error") context.errors.push(issue);
      else context.warnings.push(issue);
      if (!same || duplicatesPolicy === "drop") continue;
    } else {
      firstByName.set(entry.name, sample);
    }
    samples.push(sample);
  }
  const errors = options.strict ? context.errors.concat(context.warnings) : context.errors;
  if (errors.length > 0) {
    errors.sort((a, b) => a.line - b.line);
    throw new AnnotationError(errors);
  }
  const result: AnnotationSet = {
    samples,
    format,
    file,
    classCount: parsed.classCount,
    labelled: parsed.labelled,
    duplicates: [...duplicateLines.values()],
    warnings: context.warnings,
  };
  if (parsed.classes) result.classes = parsed.classes;
  return result;
}
