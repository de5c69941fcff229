import { describe, expect, it } from "vitest";
import { annotationStats } from "../stats/annotation-stats";
import { coOccurrenceSvg } from "../stats/stats-svg";
import type { Sample } from "../types";
import { parseAnnotations } from "./parse-annotations";

// Inputs a few 100k lines long: anything that spreads one argument per line into a call
// (`push(...errors)`, `Math.max(...indices)`) overflows the stack on these.
const lineCount = 300_000;

describe("annotation inputs proportional in size to the stack", () => {
  it("reads a 300k-line colon list without a task", () => {
    const lines: string[] = [];
    for (let i = 0; i < lineCount; i += 1)
      lines.push(`patient ${i} tile.png ${i % 3 === 0 ? 1 : 0}`);
    const set = parseAnnotations(`${lines.join("\n")}\n`);
    expect(set.format).toBe("medfmc-index");
    expect(set.classCount).toBe(2);
    expect(set.samples).toHaveLength(lineCount);
    expect(Array.from(set.samples[3].labels)).toEqual([0, 1]);
  });

  it("draws the co-occurrence chart of 500 classes (250k cells)", () => {
    const classes = Array.from({ length: 500 }, (_, i) => `class_${i}`);
    const samples: Sample[] = [
      [1, 2],
      [1, 2],
      [0, 3],
    ].map((positives, index) => {
      const labels = new Uint8Array(classes.length);
      for (const positive of positives) labels[positive] = 1;
      return { name: `${index}.png`, labels };
    });
    const stats = annotationStats(samples, { classes });
    const svg = coOccurrenceSvg(stats);
    // The largest off-diagonal count (2: classes 1 and 2 occur together twice) is the darkest.
    expect(svg).toContain("class_1 + class_2: 2</title>");
    expect(svg).toContain('fill="rgb(76,120,168)"><title>class_1 + class_2: 2');
    expect(svg).toContain('fill="rgb(165.5,187.5,211.5)"><title>class_0 + class_3: 1');
  });
});
