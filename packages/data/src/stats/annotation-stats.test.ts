import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAnnotations } from "../annotations/parse-annotations";
import { readAnnotationFile } from "../annotations/read-annotation-file";
import { colonTask, endoTask, getTask } from "../tasks";
import { annotationStats, compareSplits } from "./annotation-stats";
import { cardinalitySvg, classCountsSvg, coOccurrenceSvg, splitComparisonSvg } from "./stats-svg";

const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const annotationsRoot = resolve(repositoryRoot, "../shared/medfmc-anns");
const hasShared = existsSync(annotationsRoot);
if (!hasShared) console.warn(`stats tests on real files skipped: ${annotationsRoot} is absent`);

const endoText =
  "s1_000000000000000a.png 1 1 0 0\ns1_000000000000000b.png 0 1 0 0\ns2_000000000000000c.png 0 0 0 0\ns1_000000000000000a.png 1 1 0 0\n";

describe("annotationStats", () => {
  it("counts positives, cardinality, co-occurrence, duplicates and groups", () => {
    const { samples } = parseAnnotations(endoText, { task: endoTask });
    const stats = annotationStats(samples, { task: endoTask });
    expect(stats).toMatchObject({ task: "endo", count: 4, distinct: 3, duplicates: 1, groups: 2 });
    expect(stats.positives).toEqual([2, 3, 0, 0]);
    expect(stats.cardinality.histogram).toEqual([1, 1, 2]);
    expect(stats.cardinality.mean).toBe(5 / 4);
    expect(stats.coOccurrence[0][1]).toBe(2);
    expect(stats.coOccurrence[1][1]).toBe(3);
    expect(stats.coOccurrence[2]).toEqual([0, 0, 0, 0]);
  });

  it("counts samples per class for a multi-class task", () => {
    const { samples } = parseAnnotations("a.png 1\nb.png 1\nc.png 0\n", { task: colonTask });
    const stats = annotationStats(samples, { task: colonTask });
    expect(stats.positives).toEqual([1, 2]);
    expect(stats.cardinality.histogram).toEqual([0, 3]);
  });

  it("compares lists and draws SVG charts with escaped labels", () => {
    const train = parseAnnotations("a.png 1,0\nb.png 1,1\n").samples;
    const test = parseAnnotations("c.png 0,1\nd.png 0,1\n").samples;
    const comparison = compareSplits(
      [
        { name: "train", samples: train },
        { name: "test", samples: test },
      ],
      { classes: ["a<b", "c"] },
    );
    expect(comparison.maxShareGap).toEqual({
      value: 1,
      className: "a<b",
      between: ["train", "test"],
    });
    expect(comparison.missing).toEqual(["test: a<b"]);
    const stats = annotationStats(train, { classes: ["a<b", "c"] });
    for (const svg of [
      classCountsSvg(stats),
      cardinalitySvg(stats),
      coOccurrenceSvg(stats),
      splitComparisonSvg(comparison),
    ]) {
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
      expect(svg).not.toContain("a<b");
    }
    expect(classCountsSvg(stats)).toContain("a&#60;b</text>");
    expect(cardinalitySvg(stats)).toContain("labels per image (mean 1.50)");
  });
});

describe.skipIf(!hasShared)("statistics of the real lists", () => {
  it("finds no endo tumor in the test list and compares trainval with test", async () => {
    const task = getTask("endo");
    const trainval = await readAnnotationFile(join(annotationsRoot, "endo/trainval.txt"), { task });
    const test = await readAnnotationFile(join(annotationsRoot, "endo/test_WithLabel.txt"), {
      task,
    });
    const stats = annotationStats(test.samples, { task });
    expect(stats.positives[3]).toBe(0);
    expect(stats.cardinality.histogram.reduce((sum, value) => sum + value, 0)).toBe(881);
    const comparison = compareSplits(
      [
        { name: "trainval", samples: trainval.samples },
        { name: "test", samples: test.samples },
      ],
      { task },
    );
    expect(comparison.missing).toContain("test: tumor");
  });
});
