import type { AnnotationFormat } from "./annotation-set";

const imageExtension = /\.(png|jpe?g|tiff?|bmp|gif|webp|dcm)$/i;

/** Classifies one MedFMC-style text line, or returns undefined when no text format fits. */
export function classifyTextLine(line: string): AnnotationFormat | undefined {
  const text = line.trim();
  if (text === "") return undefined;
  if (imageExtension.test(text)) return "medfmc-names";
  if (/^.*\S\s+\d+(,\d+)+$/.test(text)) return "medfmc-comma";
  if (/^\S+(\s+\d+){2,}$/.test(text)) return "medfmc-space";
  if (/^.*\S\s+\d+$/.test(text)) return "medfmc-index";
  if (/^.*\S\s+\S+$/.test(text)) return "path-label";
  return undefined;
}

/** MedFMC text layouts: a line classified as one of them is not a CSV row. */
const medfmcLayouts: ReadonlySet<AnnotationFormat> = new Set([
  "medfmc-comma",
  "medfmc-space",
  "medfmc-index",
  "medfmc-names",
]);

/** How many non-empty lines detection looks at. */
const sampledLines = 50;

/**
 * Detects the format of annotation text from its content (and the file extension when given):
 * JSON by a leading `{` or `[` (or a `.json` name), CSV by a `.csv` name, otherwise by the
 * first 50 non-empty lines (LF, CRLF or CR-only endings): CSV when the first line and most
 * sampled lines hold commas but fit no MedFMC layout, else the text layout most of them have.
 * One malformed line (say a chest line with a `-1` label) cannot change the format, so its
 * problem is reported on its own line.
 */
export function detectAnnotationFormat(text: string, file?: string): AnnotationFormat {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const start = body.trimStart();
  if (file?.toLowerCase().endsWith(".json") || start.startsWith("{") || start.startsWith("[")) {
    return "mmpretrain-json";
  }
  if (file?.toLowerCase().endsWith(".csv")) return "csv";
  const votes = new Map<AnnotationFormat, number>();
  let seen = 0;
  let csvLike = 0;
  let firstIsCsvLike = false;
  const lineBreak = /\r\n|\r|\n/g;
  let from = 0;
  while (seen < sampledLines && from <= body.length) {
    lineBreak.lastIndex = from;
    const found = lineBreak.exec(body);
    const line = body.slice(from, found ? found.index : body.length);
    from = found ? found.index + found[0].length : body.length + 1;
    if (line.trim() === "") continue;
    const kind = classifyTextLine(line);
    const rowLike = line.includes(",") && !(kind && medfmcLayouts.has(kind));
    if (seen === 0) firstIsCsvLike = rowLike;
    if (rowLike) csvLike += 1;
    seen += 1;
    if (kind) votes.set(kind, (votes.get(kind) ?? 0) + 1);
  }
  if (firstIsCsvLike && 2 * csvLike > seen) return "csv";
  let best: AnnotationFormat = "medfmc-names";
  let bestCount = 0;
  for (const [kind, count] of votes) {
    if (count > bestCount) {
      best = kind;
      bestCount = count;
    }
  }
  return best;
}
