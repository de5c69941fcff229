import type { AnnotationIssue } from "./annotation-error";

/** One physical line of a text file, without its line ending. */
export interface TextLine {
  /** 1-based line number. */
  number: number;
  /** The line content, BOM and `\r` removed. */
  text: string;
}

/**
 * Splits text into lines, removing a UTF-8 BOM and CR of CRLF endings (each reported as an
 * issue) and the one empty line after a final newline. Text with CRs but no LF at all has
 * CR-only (classic Mac) endings: it is split at each CR, also reported.
 */
export function splitTextLines(
  text: string,
  file: string,
): { lines: TextLine[]; issues: AnnotationIssue[] } {
  const issues: AnnotationIssue[] = [];
  let body = text;
  if (body.charCodeAt(0) === 0xfeff) {
    body = body.slice(1);
    issues.push({
      code: "bom",
      file,
      line: 1,
      text: "\uFEFF",
      message: "byte order mark (BOM) at the start of the file",
    });
  }
  const crOnly = !body.includes("\n") && body.includes("\r");
  const raw = body.split(crOnly ? "\r" : "\n");
  if (raw.length > 0 && raw[raw.length - 1] === "") raw.pop();
  if (crOnly) {
    issues.push({
      code: "cr",
      file,
      line: 1,
      text: raw[0] ?? "",
      message: `CR-only line endings (${raw.length} lines)`,
    });
  }
  const lines: TextLine[] = [];
  let crlfCount = 0;
  let firstCrlf = 0;
  for (let index = 0; index < raw.length; index += 1) {
    let line = raw[index];
    if (line.endsWith("\r")) {
      line = line.slice(0, -1);
      crlfCount += 1;
      if (firstCrlf === 0) firstCrlf = index + 1;
    }
    lines.push({ number: index + 1, text: line });
  }
  if (crlfCount > 0) {
    issues.push({
      code: "crlf",
      file,
      line: firstCrlf,
      text: lines[firstCrlf - 1].text,
      message: `CRLF line endings (${crlfCount} of ${lines.length} lines)`,
    });
  }
  return { lines, issues };
}
