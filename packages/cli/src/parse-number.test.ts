import { describe, expect, it } from "vitest";
import { parseInteger, parseNumber } from "./parse-number";
import { runMedfm } from "./testing/run-medfm";

describe("parseInteger and parseNumber", () => {
  it("take decimal integers and numbers within their range", () => {
    expect(parseInteger("42")).toBe(42);
    expect(parseInteger("-3")).toBe(-3);
    expect(parseInteger("7", { min: 1, max: 7 })).toBe(7);
    expect(parseNumber("0.25", { min: 0, max: 1 })).toBe(0.25);
    expect(parseNumber("3e-4", { above: 0 })).toBe(0.0003);
    expect(parseNumber(".5")).toBe(0.5);
  });

  it("refuse what Number() would quietly accept or turn into NaN", () => {
    for (const text of ["abc", "", " ", "1.5", "0x10", "1e3", "Infinity", "NaN", "1_000"]) {
      expect(() => parseInteger(text), text).toThrow(/expected an integer, got/);
    }
    for (const text of ["abc", "", "0x10", "Infinity", "-Infinity", "1,5", "NaN"]) {
      expect(() => parseNumber(text), text).toThrow(/expected a number, got/);
    }
    expect(() => parseInteger("9007199254740993")).toThrow(/expected an integer/);
  });

  it("name the range in the error", () => {
    expect(() => parseInteger("0", { min: 1 })).toThrow("expected a positive integer, got 0");
    expect(() => parseInteger("-1", { min: 0 })).toThrow("expected a non-negative integer, got -1");
    expect(() => parseInteger("1", { min: 2 })).toThrow("expected an integer >= 2, got 1");
    expect(() => parseNumber("0", { above: 0 })).toThrow("expected a positive number, got 0");
    expect(() => parseNumber("1", { above: 0, below: 1 })).toThrow(
      "expected a number > 0 and < 1, got 1",
    );
    expect(() => parseNumber("1.5", { min: 0, max: 1 })).toThrow(
      "expected a number >= 0 and <= 1, got 1.5",
    );
  });
});

describe("numeric options of every command are validated before anything runs", () => {
  const refused: Array<[string[], RegExp]> = [
    [
      ["train", "--task", "endo", "--seed", "abc"],
      /option '--seed <n>' argument 'abc' is invalid\. expected a non-negative integer, got abc/,
    ],
    [["train", "--task", "endo", "--lr", "0"], /'--lr <x>' argument '0' is invalid/],
    [["train", "--task", "endo", "--gradcam", "two"], /'--gradcam <n>' argument 'two'/],
    [["train", "--task", "endo", "--epochs", "1.5"], /'--epochs <n>' argument '1.5'/],
    [["fewshot", "--task", "colon", "--seed", "xyz"], /'--seed <n>' argument 'xyz'/],
    [["fewshot", "--task", "colon", "--image-size", "NaN"], /'--image-size <n>' argument 'NaN'/],
    [["predict", "--batch-size", "0"], /'--batch-size <n>' argument '0' is invalid/],
    [["predict", "--image-size", "big"], /'--image-size <n>' argument 'big'/],
    [["gradcam", "--image-weight", "2"], /'--image-weight <w>' argument '2'.*<= 1/],
    [["gradcam", "--image-size", "-64"], /'--image-size <n>' argument '-64'/],
    [["data", "split", "--val-fraction", "1"], /'--val-fraction <fraction>' argument '1'/],
    [["data", "split", "--folds", "1"], /'--folds <k>' argument '1'.*>= 2/],
    [["data", "split", "--seed", "abc"], /'--seed <seed>' argument 'abc'/],
    [["data", "fewshot", "--experiments", "five"], /'--experiments <n>' argument 'five'/],
    [["models", "convert", "--seed", "-1"], /'--seed <n>' argument '-1'/],
    [["track", "sync", "--max-retries", "many"], /'--max-retries <n>' argument 'many'/],
  ];
  it.each(refused)("medfm %j", async (args, message) => {
    await expect(runMedfm(args)).rejects.toThrow(message);
  });
});
