import { describe, expect, it } from "vitest";
import { isValidMlflowKey, normalizePosixPath, toMlflowKey } from "./mlflow-key";

describe("MLflow key rules", () => {
  it("normalizes paths as Python's posixpath.normpath does", () => {
    const cases: [string, string][] = [
      ["", "."],
      ["a/./b", "a/b"],
      ["a/../b", "b"],
      ["../a", "../a"],
      ["a/..", "."],
      ["/../a", "/a"],
      ["//a", "//a"],
      ["///a", "/a"],
      ["a//b/", "a/b"],
    ];
    for (const [path, normal] of cases) expect(normalizePosixPath(path), path).toBe(normal);
  });

  it("takes what MLflow takes and refuses what it answers 400 to", () => {
    for (const key of ["train/loss", "val/mAP.macro", "a b:c-d_e", "a/..b", "x".repeat(250)]) {
      expect(isValidMlflowKey(key), key).toBe(true);
    }
    for (const key of [
      "train/./loss",
      "train/../loss",
      "..",
      ".",
      "a/.",
      "../a",
      "/a",
      "a/",
      "a//b",
      "bad!key",
      "x".repeat(251),
    ]) {
      expect(isValidMlflowKey(key), key).toBe(false);
    }
  });

  it("rewrites any key into a valid one, keeping valid keys and long keys apart", () => {
    for (const key of ["train/./loss", "train/../loss", "..", "a/.", "/a", "a//b", "bad!key"]) {
      const clean = toMlflowKey(key);
      expect(isValidMlflowKey(clean), `${key} -> ${clean}`).toBe(true);
    }
    expect(toMlflowKey("train/loss")).toBe("train/loss");
    const long = "k".repeat(300);
    expect(toMlflowKey(long)).toHaveLength(250);
    expect(toMlflowKey(`${long}a`)).not.toBe(toMlflowKey(`${long}b`));
    expect(toMlflowKey(`${long}a`)).toBe(toMlflowKey(`${long}a`));
  });
});
