import { realpath, stat } from "node:fs/promises";
import { isAbsolute as isAbsolutePath, relative, sep } from "node:path";
import sharp from "sharp";

/** The largest image (in pixels) the loader decodes by default: 8192 × 8192, room for any X-ray. */
export const DEFAULT_MAX_PIXELS = 8192 * 8192;

/** Why a path under a data root is refused as an image file. */
export type ImageFileProblem = "missing" | "outside-data-root" | "not-a-file";

/** Options of {@link checkImageFile}. */
export interface CheckImageFileOptions {
  /** Follow symbolic links that lead outside the data root; default false (refused). */
  followSymlinks?: boolean;
}

function inside(root: string, path: string): boolean {
  const way = relative(root, path);
  return way === "" || (!isAbsolutePath(way) && way !== ".." && !way.startsWith(`..${sep}`));
}

/**
 * Checks that `path` (already joined to `dataRoot`) is a regular file that really lies inside
 * the data root: a symbolic link (of the file or a folder on its way) that leads outside it is
 * refused unless `followSymlinks`, and a directory in place of an image is refused. Returns the
 * problem and a message naming where the path leads, or undefined when the file is fine.
 */
export async function checkImageFile(
  dataRoot: string,
  path: string,
  options: CheckImageFileOptions = {},
): Promise<{ problem: ImageFileProblem; message: string } | undefined> {
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return { problem: "missing", message: `image not found under ${dataRoot}` };
  }
  if (!options.followSymlinks) {
    const realRoot = await realpath(dataRoot).catch(() => dataRoot);
    if (!inside(realRoot, real)) {
      return {
        problem: "outside-data-root",
        message: `is a symbolic link to ${real}, outside the data root ${dataRoot} (refused; allow with followSymlinks)`,
      };
    }
  }
  const info = await stat(real);
  if (!info.isFile()) {
    return {
      problem: "not-a-file",
      message: info.isDirectory() ? "is a directory, not an image file" : "is not a regular file",
    };
  }
  return undefined;
}

/**
 * Reads an image file's width and height from its header with sharp (nothing is decoded);
 * undefined when sharp cannot read the header (the decoder then reports the damage).
 */
export async function readImageSize(
  path: string,
): Promise<{ width: number; height: number } | undefined> {
  try {
    const metadata = await sharp(path, { limitInputPixels: false }).metadata();
    if (!metadata.width || !metadata.height) return undefined;
    return { width: metadata.width, height: metadata.height };
  } catch {
    return undefined;
  }
}
