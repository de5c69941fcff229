import { FieldTypeError } from "./track-error";

/** The type of a field; fixed by the first write to its path. */
export type FieldType =
  | "float"
  | "int"
  | "bool"
  | "string"
  | "datetime"
  | "floatSeries"
  | "stringSeries"
  | "stringSet"
  | "file";

/** The types a plain assignment (`run[path] = value`) can create. */
export type AtomType = "float" | "int" | "bool" | "string" | "datetime";

/** A value a single-value field holds. */
export type AtomValue = number | boolean | string | Date;

/** What `run[path] = value` accepts: one value, or a nested object of them. */
export type FieldInput =
  | AtomValue
  | bigint
  | readonly unknown[]
  | { readonly [key: string]: FieldInput };

/** One point of a series as stored: step, value and Unix time in milliseconds. */
export interface SeriesPoint<T extends number | string = number | string> {
  /** The step, increasing; defaults to the previous step plus one (0 first). */
  step: number;
  /** The value. */
  value: T;
  /** Unix time in milliseconds. */
  timestamp: number;
}

/** Options of `append()`. */
export interface AppendOptions {
  /** The step; defaults to the previous step plus one, starting at 0. */
  step?: number;
  /** The time of the point, as a Date or Unix milliseconds; defaults to now. */
  timestamp?: number | Date;
}

const pathPattern = /^[A-Za-z0-9_\-.: ]+(\/[A-Za-z0-9_\-.: ]+)*$/;

/**
 * Checks a field path and returns it: one or more segments of letters, digits, `_ - . :` and
 * spaces, joined by `/`, none empty, none `.` and none starting with `..`. Such a path is a valid
 * MLflow key (which takes no `.` or `..` segment and no leading `..`), as is every part of it
 * after a `/` (like the param key of `params/<key>`), and it cannot point out of the run folder
 * when it names a file field's folder.
 */
export function validatePath(path: string): string {
  if (typeof path !== "string" || !pathPattern.test(path)) {
    throw new FieldTypeError(
      String(path),
      "a field path is one or more segments of letters, digits, '_', '-', '.', ':' or spaces, joined by '/'",
    );
  }
  for (const segment of path.split("/")) {
    if (segment === "." || segment.startsWith("..")) {
      throw new FieldTypeError(
        path,
        `the segment ${JSON.stringify(segment)} is "." or starts with "..": MLflow rejects such keys and as a folder it would point elsewhere`,
      );
    }
  }
  return path;
}

/** Infers the atom type of a value assigned to `path`, or throws naming the path and value. */
export function atomTypeOf(path: string, value: unknown): AtomType {
  switch (typeof value) {
    case "number":
      return Number.isInteger(value) ? "int" : "float";
    case "bigint":
      return "int";
    case "boolean":
      return "bool";
    case "string":
      return "string";
    case "object":
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new FieldTypeError(path, "invalid Date");
        return "datetime";
      }
      break;
  }
  throw new FieldTypeError(path, `cannot assign ${describe(value)}`);
}

/**
 * Decides the stored type when `incoming` is written to a field that has type `existing`.
 * Numbers widen: JavaScript has one number type, so an integer written to a float field stays a
 * float, and a fraction written to an int field makes it a float (as `0.0` then `0.5` would).
 * Every other mismatch throws.
 */
export function mergeAtomType(
  path: string,
  existing: FieldType | undefined,
  incoming: AtomType,
): AtomType {
  if (existing === undefined || existing === incoming) return incoming;
  if (
    (existing === "float" && incoming === "int") ||
    (existing === "int" && incoming === "float")
  ) {
    return "float";
  }
  throw new FieldTypeError(path, `field is ${existing}; cannot assign a ${incoming}`);
}

/** Throws unless `path` may hold (or become) `wanted`. */
export function requireType(
  path: string,
  existing: FieldType | undefined,
  wanted: FieldType,
): void {
  if (existing !== undefined && existing !== wanted) {
    throw new FieldTypeError(path, `field is ${existing}; cannot use it as ${wanted}`);
  }
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") return `an object (${value.constructor?.name ?? "Object"})`;
  if (typeof value === "string")
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return `${typeof value} ${String(value)}`;
}

/** True for a plain object (`{...}`), the kind nested assignment flattens. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
