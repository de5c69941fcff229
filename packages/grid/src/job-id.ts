import { createHash } from "node:crypto";
import type { GridJobConfig } from "./job-config";

/**
 * JSON with object keys sorted at every level and `undefined` members left out, so equal
 * configurations give equal text whatever order their keys were written in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((item) => canonicalJson(item ?? null)).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isFinite(value))
    throw new TypeError(`canonicalJson: ${value} has no JSON form`);
  return JSON.stringify(value);
}

/**
 * The job id of a configuration: `g` and the first 24 hex digits of the SHA-256 of its
 * {@link canonicalJson}. Deterministic across machines and runs, so submitting the same job
 * twice names the same BullMQ job (which BullMQ adds only once). The letter keeps the id from
 * being all digits, which BullMQ reserves for its own ids.
 */
export function jobIdOf(config: GridJobConfig): string {
  return `g${createHash("sha256").update(canonicalJson(config)).digest("hex").slice(0, 24)}`;
}
