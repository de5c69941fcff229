import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Sample } from "../types";
import { AnnotationError, type AnnotationIssue } from "./annotation-error";
import type { AnnotationSet, ParseAnnotationsOptions } from "./annotation-set";
import { type FormatAnnotationsOptions, formatAnnotations } from "./format-annotations";
import { parseAnnotations } from "./parse-annotations";

/** Options of {@link readAnnotationFile}. */
export interface ReadAnnotationFileOptions extends Omit<ParseAnnotationsOptions, "file"> {
  /** When given, every sample's image must exist under this folder; all missing ones are reported at once. */
  dataRoot?: string;
}

/**
 * Lists the samples whose image is missing under `dataRoot`, as issues naming the annotation
 * file, the line and the name. Checks in parallel, 64 at a time.
 */
export async function findMissingImages(
  samples: readonly Sample[],
  dataRoot: string,
  file = "<samples>",
): Promise<AnnotationIssue[]> {
  const missing: AnnotationIssue[] = [];
  const width = 64;
  for (let start = 0; start < samples.length; start += width) {
    const chunk = samples.slice(start, start + width);
    const results = await Promise.all(
      chunk.map((sample) =>
        access(join(dataRoot, sample.name)).then(
          () => true,
          () => false,
        ),
      ),
    );
    results.forEach((exists, index) => {
      if (exists) return;
      const sample = chunk[index];
      missing.push({
        code: "missing-image",
        file,
        line: sample.line ?? start + index + 1,
        text: sample.name,
        message: `image not found under ${dataRoot}`,
      });
    });
  }
  return missing;
}

/**
 * Reads and checks an annotation file (see `parseAnnotations`); with `dataRoot`, also checks that
 * every image exists. Throws one {@link AnnotationError} listing every problem.
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
  const { dataRoot, ...parseOptions } = options;
  const set = parseAnnotations(text, { ...parseOptions, file: path });
  if (dataRoot !== undefined) {
    const missing = await findMissingImages(set.samples, dataRoot, path);
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
