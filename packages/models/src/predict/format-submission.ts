import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Predictions } from "./predict-images";

/** Shortest text that reads back to the same float32 value. */
function formatScore(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`score ${value} is not finite`);
  return String(Number(value.toPrecision(9)));
}

/**
 * The MedFM submission CSV: one line `name,score1,...,scoreC` per image in row order, no header,
 * LF line ends and a final newline. Scores are written so they read back to the same float32
 * value (no rounding that could create ties). Throws naming an image whose name contains a
 * comma or a line break, or whose scores are not finite.
 */
export function formatSubmission(predictions: Predictions): string {
  const { names, scores, numClasses } = predictions;
  if (scores.length !== names.length * numClasses) {
    throw new RangeError(
      `formatSubmission: ${scores.length} scores for ${names.length} images × ${numClasses} classes`,
    );
  }
  const lines: string[] = [];
  names.forEach((name, row) => {
    if (/[,\r\n]/.test(name)) {
      throw new RangeError(
        `formatSubmission: image name ${JSON.stringify(name)} contains a comma or a line break`,
      );
    }
    const cells = [name];
    for (let c = 0; c < numClasses; c += 1) {
      const value = scores[row * numClasses + c];
      try {
        cells.push(formatScore(value));
      } catch (error) {
        throw new RangeError(`formatSubmission: ${name}, class ${c}: ${(error as Error).message}`);
      }
    }
    lines.push(cells.join(","));
  });
  return lines.length ? `${lines.join("\n")}\n` : "";
}

/** Writes {@link formatSubmission}'s CSV to `path`, creating its folder. */
export async function writeSubmission(path: string, predictions: Predictions): Promise<void> {
  const text = formatSubmission(predictions);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}
