const marker = Symbol.for("medfm.data.AnnotationError");

/** What went wrong on one line of an annotation file. */
export type AnnotationIssueCode =
  | "syntax"
  | "label-count"
  | "label-value"
  | "unknown-class"
  | "empty-line"
  | "bom"
  | "crlf"
  | "cr"
  | "outside-data-root"
  | "not-a-file"
  | "duplicate"
  | "conflicting-duplicate"
  | "unsafe-path"
  | "missing-image"
  | "format"
  | "io";

/** One problem found in an annotation file, with where it is and the text at fault. */
export interface AnnotationIssue {
  /** Machine-readable kind of problem. */
  code: AnnotationIssueCode;
  /** The file (or `<text>` when parsing a string without a file name). */
  file: string;
  /** 1-based line number, or 0 when the problem concerns the whole file. */
  line: number;
  /** The offending text (the line, or the value within it). */
  text: string;
  /** What is wrong, in one sentence. */
  message: string;
}

/** Renders an issue as `file:line: message: "text"`. */
export function formatAnnotationIssue(issue: AnnotationIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}` : issue.file;
  const text = issue.text.length > 160 ? `${issue.text.slice(0, 157)}...` : issue.text;
  return `${where}: ${issue.message}: ${JSON.stringify(text)}`;
}

const maxListedIssues = 50;

/**
 * Thrown when annotations are invalid. Every problem found is collected first, so one error lists
 * them all (the message shows the first 50; `issues` holds every one).
 */
export class AnnotationError extends Error {
  protected readonly [marker] = true;
  /** Every problem found, in file and line order. */
  readonly issues: readonly AnnotationIssue[];

  constructor(issues: readonly AnnotationIssue[], options?: { cause?: unknown }) {
    const listed = issues.slice(0, maxListedIssues).map(formatAnnotationIssue);
    const more =
      issues.length > maxListedIssues ? [`... and ${issues.length - maxListedIssues} more`] : [];
    const head =
      issues.length === 1 ? "1 annotation problem" : `${issues.length} annotation problems`;
    super([`${head}:`, ...listed, ...more].join("\n  "), options);
    this.name = "AnnotationError";
    this.issues = issues;
  }

  /** True for any AnnotationError, even one from another copy of this package. */
  static isInstance(error: unknown): error is AnnotationError {
    return typeof error === "object" && error !== null && marker in error;
  }
}
