import type { TaskDefinition } from "../types";
import type { AnnotationIssue, AnnotationIssueCode } from "./annotation-error";
import type { ParseAnnotationsOptions } from "./annotation-set";

/** One parsed entry before the common checks (paths, duplicates, groups). */
export interface ParsedEntry {
  name: string;
  labels: Uint8Array;
  line: number;
  text: string;
  metadata?: Record<string, string>;
  group?: string;
}

/** What a format parser returns. */
export interface ParsedEntries {
  entries: ParsedEntry[];
  classes?: readonly string[];
  classCount: number;
  labelled: boolean;
}

/** State shared by the format parsers of one file: where we are and what went wrong. */
export interface ParseContext {
  file: string;
  task?: TaskDefinition;
  options: ParseAnnotationsOptions;
  errors: AnnotationIssue[];
  warnings: AnnotationIssue[];
}

/** Records an error at a line. */
export function addError(
  context: ParseContext,
  code: AnnotationIssueCode,
  line: number,
  text: string,
  message: string,
): void {
  context.errors.push({ code, file: context.file, line, text, message });
}

/** Builds labels for a multi-class task from a class index. */
export function oneHot(index: number, classCount: number): Uint8Array {
  const labels = new Uint8Array(classCount);
  labels[index] = 1;
  return labels;
}

/**
 * Parses 0/1 label tokens; reports each bad value. Returns undefined when any value is bad.
 */
export function parseBinaryLabels(
  tokens: readonly string[],
  context: ParseContext,
  line: number,
  lineText: string,
): Uint8Array | undefined {
  const labels = new Uint8Array(tokens.length);
  let ok = true;
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i];
    if (token === "0" || token === "1") {
      labels[i] = token === "1" ? 1 : 0;
    } else {
      ok = false;
      addError(
        context,
        "label-value",
        line,
        lineText,
        `label ${i + 1} is ${JSON.stringify(token)}, expected 0 or 1`,
      );
    }
  }
  return ok ? labels : undefined;
}

/** For a multi-class task, checks that a multi-hot row has exactly one positive. */
export function checkSinglePositive(
  labels: Uint8Array,
  context: ParseContext,
  line: number,
  lineText: string,
): boolean {
  if (context.task?.kind !== "multi-class") return true;
  let positives = 0;
  for (const value of labels) positives += value;
  if (positives === 1) return true;
  addError(
    context,
    "label-value",
    line,
    lineText,
    `multi-class task ${context.task.name} needs exactly one positive label, got ${positives}`,
  );
  return false;
}
