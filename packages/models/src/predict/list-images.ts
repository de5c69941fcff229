import { readdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";

/** File extensions {@link listImages} treats as images (sharp decodes them). */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze([
  ".png",
  ".jpg",
  ".jpeg",
  ".tif",
  ".tiff",
  ".bmp",
  ".webp",
]);

/** Options of {@link listImages}. */
export interface ListImagesOptions {
  /** Descend into subfolders (default false). */
  recursive?: boolean;
}

/**
 * Image files in a folder (by extension, case-insensitive), as names relative to it with `/`
 * separators, sorted by code point so the order is the same on every machine.
 */
export async function listImages(
  folder: string,
  options: ListImagesOptions = {},
): Promise<string[]> {
  const entries = await readdir(folder, {
    withFileTypes: true,
    recursive: options.recursive ?? false,
  });
  const names: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const lower = entry.name.toLowerCase();
    if (!IMAGE_EXTENSIONS.some((extension) => lower.endsWith(extension))) continue;
    const parent =
      (entry as { parentPath?: string; path?: string }).parentPath ?? entry.path ?? folder;
    names.push(relative(folder, join(parent, entry.name)).split(sep).join("/"));
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
