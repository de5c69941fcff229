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

/**
 * Detects the format of annotation text from its content (and the file extension when given):
 * JSON by a leading `{`, CSV by a `.csv` name or a comma-separated header, otherwise the
 * text layout most of the first 50 lines have.
 */
export function detectAnnotationFormat(text: string, file?: string): AnnotationFormat {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const start = body.trimStart();
  if (file?.toLowerCase().endsWith(".json") || start.startsWith("{") || start.startsWith("[")) {
    return "mmpretrain-json";
  }
  if (file?.toLowerCase().endsWith(".csv")) return "csv";
  const lines = body.split("\n").map((line) => line.replace(/\r$/, ""));
  const first = lines.find((line) => line.trim() !== "") ?? "";
  if (first.includes(",") && classifyTextLine(first) !== "medfmc-comma") return "csv";
  const votes = new Map<AnnotationFormat, number>();
  let seen = 0;
  for (const line of lines) {
    const kind = classifyTextLine(line);
    if (!kind) continue;
    votes.set(kind, (votes.get(kind) ?? 0) + 1);
    seen += 1;
    if (seen >= 50) break;
  }
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
