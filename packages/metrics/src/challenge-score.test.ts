import { describe, expect, it } from "vitest";
import { type ChallengeResult, challengeScore } from "./challenge-score";
import { ResultsTableError } from "./metrics-error";

function table(): ChallengeResult[] {
  const rows: ChallengeResult[] = [];
  let value = 0;
  for (const task of ["chest", "colon", "endo"] as const) {
    for (const shot of [1, 5, 10]) {
      for (let experiment = 1; experiment <= 5; experiment++) {
        value += 1;
        const first = (value % 17) / 20;
        const second = (value % 13) / 20;
        rows.push(
          task === "colon"
            ? { task, shot, experiment, accuracy: first, AUC: second }
            : { task, shot, experiment, mAP: first, AUC: second },
        );
      }
    }
  }
  return rows;
}

describe("challengeScore", () => {
  it("averages the 90 numbers of 3 tasks x 3 shots x 5 experiments x 2 metrics", () => {
    const rows = table();
    const result = challengeScore(rows);
    const numbers = rows.flatMap((row) =>
      row.task === "colon" ? [row.accuracy!, row.AUC!] : [row.mAP!, row.AUC!],
    );
    expect(result.count).toBe(90);
    expect(result.score).toBeCloseTo(numbers.reduce((a, b) => a + b, 0) / 90, 12);
    expect(result.shots).toEqual([1, 5, 10]);
    expect(result.experiments).toEqual([1, 2, 3, 4, 5]);
    const colon = rows.filter((row) => row.task === "colon");
    expect(result.perTask.colon!.accuracy).toBeCloseTo(
      colon.reduce((sum, row) => sum + row.accuracy!, 0) / colon.length,
      12,
    );
    expect(Object.keys(result.perTask.chest!)).toEqual(["mAP", "AUC"]);
  });

  it("lists missing entries, and names duplicate rows and missing metrics", () => {
    const rows = table();
    expect(() => challengeScore(rows.filter((_, index) => index !== 3 && index !== 20))).toThrow(
      "missing 2 entries: chest 1-shot exp4, colon 5-shot exp1",
    );
    expect(() => challengeScore([...rows, rows[0]])).toThrow(
      "results row 45: chest 1-shot exp1 repeats row 0",
    );
    const withoutAuc = rows.map((row, index) => (index === 7 ? { ...row, AUC: undefined } : row));
    expect(() => challengeScore(withoutAuc)).toThrow(ResultsTableError);
    expect(() => challengeScore(withoutAuc)).toThrow(
      "results row 7: chest 5-shot exp3 has AUC undefined",
    );
  });
});
