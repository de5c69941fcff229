import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { checkImageFile } from "../images/image-file-check";
import type { Sample } from "../types";
import { AnnotationError, type AnnotationIssue } from "./annotation-error";
import type { AnnotationSet, ParseAnnotationsOptions } from "./annotation-set";
import { type FormatAnnotationsOptions, formatAnnotations } from "./format-annotations";
import { parseAnnotations } from "./parse-annotations";

/** Options of {@link readAnnotationFile}. */
export interface ReadAnnotationFileOptions extends Omit<ParseAnnotationsOptions, "file"> {
  /** When given, every sample's image must exist under this folder; all missing ones are reported at once. */
  dataRoot?: string;
  /** With `dataRoot`: accept symbolic links that lead outside it (refused by default). */
  followSymlinks?: boolean;
}

/**
 * Lists the samples whose image is missing under `dataRoot`, is a symbolic link leading outside
 * it (unless `followSymlinks`) or is not a regular file (a directory), as issues naming the
 * annotation file, the line and the name. Checks in parallel, 64 at a time.
 */
export async function findMissingImages(
  samples: readonly Sample[],
  dataRoot: string,
  file = "<samples>",
  options: { followSymlinks?: boolean } = {},
): Promise<AnnotationIssue[]> {
  const missing: AnnotationIssue[] = [];
  const width = 64;
  for (let start = 0; start < samples.length; start += width) {
    const chunk = samples.slice(start, start + width);
    const results = await Promise.all(
      chunk.map((sample) => checkImageFile(dataRoot, join(dataRoot, sample.name), options)),
    );
    results.forEach((refused, index) => {
      if (!refused) return;
      const sample = chunk[index];
      missing.push({
        code: refused.problem === "missing" ? "missing-image" : refused.problem,
        file,
        line: sample.line ?? start + index + 1,
        text: sample.name,
        message: refused.message,
      });
    });
  }
  return missing;
}

/**
 * Reads and checks an annotation file (see `parseAnnotations`); with `dataRoot`, also checks that
 * every image exists as a file inside it (see {@link findMissingImages}). Throws one {@link AnnotationError} listing every problem.
 */
export async function readAnnotationFile(
  path: string,
  options: ReadAnnotationFileOptions = {},
): Promise<AnnotationSet> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new AnnotationError(
      [
        {
          code: "io",
          file: path,
          line: 0,
          text: path,
          message: `cannot read annotation file (${message})`,
        },
      ],
      { cause: error },
    );
  }
  const { dataRoot, followSymlinks, ...parseOptions } = options;
  const set = parseAnnotations(text, { ...parseOptions, file: path });
  if (dataRoot !== undefined) {
    const missing = await findMissingImages(set.samples, dataRoot, path, { followSymlinks });
    if (missing.length > 0) throw new AnnotationError(missing);
  }
  return set;
}

/** Writes samples to an annotation file (see `formatAnnotations`), creating its folder. */
export async function writeAnnotationFile(
  path: string,
  samples: readonly Sample[],
  options: FormatAnnotationsOptions,
): Promise<void> {
  const text = formatAnnotations(samples, { file: path, ...options });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text, "utf8");
}
