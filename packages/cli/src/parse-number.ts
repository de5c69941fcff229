import { InvalidArgumentError } from "commander";

/** Inclusive bounds of a numeric option. */
export interface NumberRange {
  /** Smallest value accepted. */
  min?: number;
  /** Largest value accepted. */
  max?: number;
  /** Values must be greater than this (an exclusive lower bound, like a learning rate's 0). */
  above?: number;
  /** Values must be less than this (an exclusive upper bound). */
  below?: number;
}

// Decimal only: Number() would also take "", " ", "0x10", "1_000" and "Infinity".
const integerPattern = /^[+-]?\d+$/;
const numberPattern = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function describeRange(kind: string, range: NumberRange): string {
  const { min, max, above, below } = range;
  if (min === 1 && max === undefined && kind === "an integer") return "a positive integer";
  if (min === 0 && max === undefined && kind === "an integer") return "a non-negative integer";
  if (above === 0 && below === undefined && max === undefined) return `a positive number`;
  const bounds = [
    min !== undefined ? `>= ${min}` : above !== undefined ? `> ${above}` : undefined,
    max !== undefined ? `<= ${max}` : below !== undefined ? `< ${below}` : undefined,
  ].filter((bound) => bound !== undefined);
  return bounds.length > 0 ? `${kind} ${bounds.join(" and ")}` : kind;
}

function checkRange(value: number, text: string, kind: string, range: NumberRange): number {
  const { min, max, above, below } = range;
  if (
    (min !== undefined && value < min) ||
    (max !== undefined && value > max) ||
    (above !== undefined && value <= above) ||
    (below !== undefined && value >= below)
  )
    throw new InvalidArgumentError(`expected ${describeRange(kind, range)}, got ${text}`);
  return value;
}

/**
 * Parses a decimal integer option value within `range`; throws commander's
 * `InvalidArgumentError` (commander names the option and the value) for anything else.
 */
export function parseInteger(text: string, range: NumberRange = {}): number {
  const value = Number(text);
  if (!integerPattern.test(text.trim()) || !Number.isSafeInteger(value))
    throw new InvalidArgumentError(`expected ${describeRange("an integer", range)}, got ${text}`);
  return checkRange(value, text, "an integer", range);
}

/** Parses a finite decimal number option value within `range`, like {@link parseInteger}. */
export function parseNumber(text: string, range: NumberRange = {}): number {
  const value = Number(text);
  if (!numberPattern.test(text.trim()) || !Number.isFinite(value))
    throw new InvalidArgumentError(`expected ${describeRange("a number", range)}, got ${text}`);
  return checkRange(value, text, "a number", range);
}

/** A commander argument parser of integers within `range`: `.option("--n <n>", "…", integerOption({ min: 1 }))`. */
export function integerOption(range: NumberRange = {}): (text: string) => number {
  return (text) => parseInteger(text, range);
}

/** A commander argument parser of numbers within `range`, like {@link integerOption}. */
export function numberOption(range: NumberRange = {}): (text: string) => number {
  return (text) => parseNumber(text, range);
}

/** Seeds: non-negative integers, as torch and numpy take them. */
export const seedOption = integerOption({ min: 0 });
