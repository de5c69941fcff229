/**
 * Why a sample name is unsafe to join onto a data root, or undefined when it is safe.
 * Absolute paths (POSIX, Windows drive or UNC), `..` segments, NUL and line breaks are refused:
 * an annotation file must never make a loader read outside its data root.
 */
export function unsafePathReason(name: string): string | undefined {
  if (name.length === 0) return "empty image name";
  if (/[\0\r\n]/.test(name)) return "image name contains a control character";
  if (name.startsWith("/") || name.startsWith("\\")) return "absolute path refused";
  if (/^[A-Za-z]:/.test(name)) return "absolute (drive) path refused";
  if (name.split(/[\\/]/).some((segment) => segment === "..")) {
    return "`..` in an image name refused (no reading outside the data root)";
  }
  return undefined;
}
