import {
  type AnnotationSet,
  type ReadAnnotationFileOptions,
  readAnnotationFile,
} from "@medfm/data";

const unlabeledMarker = Symbol.for("medfm.cli.UnlabeledAnnotationError");

/** Error thrown when a name-only list is given where training or evaluation needs labels. */
export class UnlabeledAnnotationError extends Error {
  /** Marks instances across copies of the package (see {@link UnlabeledAnnotationError.isInstance}). */
  readonly [unlabeledMarker] = true;

  constructor(
    /** The option that named the file, like `--train-ann`. */
    readonly option: string,
    /** The annotation file. */
    readonly file: string,
  ) {
    super(
      `${option} ${file}: has no labels (a name-only list such as test_WithoutLabel.txt); ` +
        "training and evaluation need a list with a label for every image",
    );
    this.name = "UnlabeledAnnotationError";
  }

  /** Whether `error` is an {@link UnlabeledAnnotationError}, across package copies. */
  static isInstance(error: unknown): error is UnlabeledAnnotationError {
    return (
      typeof error === "object" &&
      error !== null &&
      (error as Record<symbol, unknown>)[unlabeledMarker] === true
    );
  }
}

/**
 * Reads an annotation file that must carry labels (training, validation, test, few-shot
 * support); a name-only list throws {@link UnlabeledAnnotationError} naming the option and file.
 */
export async function readLabelledAnnotations(
  option: string,
  file: string,
  options: ReadAnnotationFileOptions,
): Promise<AnnotationSet> {
  const set = await readAnnotationFile(file, options);
  if (!set.labelled) throw new UnlabeledAnnotationError(option, file);
  return set;
}
