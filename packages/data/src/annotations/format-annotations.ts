import type { Sample, TaskDefinition } from "../types";
import { AnnotationError, type AnnotationIssue } from "./annotation-error";
import type { AnnotationFormat, AnnotationFormatOption } from "./annotation-set";
import { formatCsvAnnotations } from "./csv-annotations";
import { formatMedfmcLine, type MedfmcTextFormat, medfmcFormatOf } from "./medfmc-text";
import { formatMmpretrainJson } from "./mmpretrain-json";
import { formatPathLabelLine } from "./path-label-list";
import { unsafePathReason } from "./safe-path";

/** Options of {@link formatAnnotations}. */
export interface FormatAnnotationsOptions {
  /** The task: class names, head type and MedFMC layout. */
  task: TaskDefinition;
  /** Output format; `medfmc` (the default) is the task's own MedFMC text layout. */
  format?: Exclude<AnnotationFormatOption, "auto">;
  /** Name used in error messages (the output file). */
  file?: string;
}

/** The concrete format `formatAnnotations` writes for these options. */
export function resolveOutputFormat(options: FormatAnnotationsOptions): AnnotationFormat {
  const format = options.format ?? "medfmc";
  return format === "medfmc" ? medfmcFormatOf(options.task) : format;
}

/**
 * Writes samples in an annotation format (LF endings, trailing newline). Checks every sample
 * first (safe name, label count, 0/1 values, one positive for a multi-class task except in a
 * name-only list) and throws one {@link AnnotationError} listing every bad sample by position.
 */
export function formatAnnotations(
  samples: readonly Sample[],
  options: FormatAnnotationsOptions,
): string {
  const { task } = options;
  const file = options.file ?? "<output>";
  const format = resolveOutputFormat(options);
  const issues: AnnotationIssue[] = [];
  const classCount = task.classes.length;
  samples.forEach((sample, index) => {
    const line = index + 1;
    const fail = (code: AnnotationIssue["code"], message: string) =>
      issues.push({ code, file, line, text: sample.name, message: `sample ${line}: ${message}` });
    const unsafe = unsafePathReason(sample.name);
    if (unsafe) fail("unsafe-path", unsafe);
    if (format === "medfmc-space" && /\s/.test(sample.name)) {
      fail("syntax", "names with whitespace cannot be written in the space-separated layout");
    }
    if (format === "medfmc-names") return;
    if (sample.labels.length !== classCount) {
      fail(
        "label-count",
        `has ${sample.labels.length} labels, task ${task.name} has ${classCount} classes`,
      );
      return;
    }
    let positives = 0;
    for (const value of sample.labels) {
      if (value !== 0 && value !== 1) {
        fail("label-value", `label value ${value} is not 0 or 1`);
        return;
      }
      positives += value;
    }
    if ((task.kind === "multi-class" || format === "medfmc-index") && positives !== 1) {
      fail("label-value", `needs exactly one positive label for ${format}, has ${positives}`);
    }
  });
  if (issues.length > 0) throw new AnnotationError(issues);
  switch (format) {
    case "mmpretrain-json":
      return formatMmpretrainJson(samples, task.classes, task.kind === "multi-label");
    case "csv":
      return formatCsvAnnotations(samples, task.classes);
    case "path-label":
      return samples.map((sample) => `${formatPathLabelLine(sample, task.classes)}\n`).join("");
    default:
      return samples
        .map((sample) => `${formatMedfmcLine(sample, format as MedfmcTextFormat)}\n`)
        .join("");
  }
}
