import { createHash } from "node:crypto";

/** MLflow's longest metric, param or tag key. */
export const mlflowKeyLength = 250;

const badCharacters = /[^A-Za-z0-9_\-. :/]/g;
const allowedCharacters = /^[A-Za-z0-9_\-. :/]*$/;

/** Python's `posixpath.normpath`, which MLflow applies to keys. */
export function normalizePosixPath(path: string): string {
  if (path === "") return ".";
  let initialSlashes = path.startsWith("/") ? 1 : 0;
  if (path.startsWith("//") && !path.startsWith("///")) initialSlashes = 2;
  const kept: string[] = [];
  for (const component of path.split("/")) {
    if (component === "" || component === ".") continue;
    if (
      component !== ".." ||
      (initialSlashes === 0 && kept.length === 0) ||
      (kept.length > 0 && kept[kept.length - 1] === "..")
    ) {
      kept.push(component);
    } else if (kept.length > 0) kept.pop();
  }
  const joined = "/".repeat(initialSlashes) + kept.join("/");
  return joined || ".";
}

/**
 * Whether MLflow takes `key` as a metric, param or tag key (mlflow/utils/validation.py:
 * `_validate_metric_name`, `_validate_param_name`, `_validate_tag_name`, `path_not_unique`): only
 * letters, digits, `_ - . : /` and spaces (ASCII here; MLflow also takes other Unicode letters),
 * at most 250 characters, and a key that is its own normalized path, so no empty, `.` or `..`
 * segment, no leading or trailing `/`, and no leading `..`.
 */
export function isValidMlflowKey(key: string): boolean {
  if (!allowedCharacters.test(key) || key.length > mlflowKeyLength) return false;
  const normal = normalizePosixPath(key);
  return normal === key && normal !== "." && !normal.startsWith("..") && !normal.startsWith("/");
}

/**
 * Rewrites any key into one MLflow takes: other characters become `_`, an empty, `.` or `..`
 * segment becomes `_` or `__`, a leading `..` becomes `_.`, and a key longer than 250 characters
 * is cut to 241 and given `_` and 8 hex digits of the SHA-256 of the whole key, so that two long
 * keys with the same beginning stay two keys. A valid key is returned unchanged.
 */
export function toMlflowKey(key: string): string {
  if (isValidMlflowKey(key)) return key;
  let clean = key
    .replace(badCharacters, "_")
    .split("/")
    .map((segment) => (segment === "" || segment === "." ? "_" : segment === ".." ? "__" : segment))
    .join("/");
  if (clean.startsWith("..")) clean = `_${clean.slice(1)}`;
  if (clean.length > mlflowKeyLength) {
    const hash = createHash("sha256").update(key).digest("hex").slice(0, 8);
    clean = `${clean.slice(0, mlflowKeyLength - 9)}_${hash}`;
  }
  return clean;
}
