import { createRandom } from "../random";

/** Options of {@link iterativeStratification}. */
export interface IterativeStratificationOptions {
  /** Desired share of the rows in each part (k-fold: `1/k` each; train/val: `[0.8, 0.2]`). Sums to 1. */
  proportions: readonly number[];
  /** Seed for the order of rows and tie-breaks. */
  seed: number | string;
  /** Group key per row: rows of one group always land in the same part. */
  groups?: readonly string[];
}

interface Unit {
  rows: number[];
  counts: Float64Array;
  order: number;
}

/**
 * Assigns rows of a multi-hot (or one-hot) label matrix to parts by iterative stratification
 * (Sechidis, Tsoumakas, Vlahavas, "On the Stratification of Multi-label Data", ECML PKDD 2011):
 * repeatedly take the label with the fewest remaining positives and place each of its rows in the
 * part that most lacks that label (ties: the part that most lacks rows, then at random).
 *
 * With `groups`, whole groups are placed (their label counts summed), so no group spans two
 * parts. Returns the part index of every row. Deterministic for a given seed.
 */
export function iterativeStratification(
  labels: readonly Uint8Array[],
  options: IterativeStratificationOptions,
): Int32Array {
  const { proportions } = options;
  const parts = proportions.length;
  if (parts < 2)
    throw new RangeError(`iterativeStratification: need at least 2 parts, got ${parts}`);
  const total = proportions.reduce((sum, value) => sum + value, 0);
  if (proportions.some((value) => !(value > 0)) || Math.abs(total - 1) > 1e-6) {
    throw new RangeError(
      `iterativeStratification: proportions must be positive and sum to 1, got [${proportions.join(", ")}]`,
    );
  }
  const rowCount = labels.length;
  const classCount = rowCount > 0 ? labels[0].length : 0;
  labels.forEach((row, index) => {
    if (row.length !== classCount) {
      throw new RangeError(
        `iterativeStratification: row ${index} has ${row.length} labels, row 0 has ${classCount}`,
      );
    }
  });
  if (options.groups && options.groups.length !== rowCount) {
    throw new RangeError(
      `iterativeStratification: ${options.groups.length} groups for ${rowCount} rows`,
    );
  }
  const random = createRandom(options.seed);
  const units: Unit[] = [];
  const unitOfGroup = new Map<string, Unit>();
  for (let row = 0; row < rowCount; row += 1) {
    const key = options.groups?.[row];
    let unit = key === undefined ? undefined : unitOfGroup.get(key);
    if (!unit) {
      unit = { rows: [], counts: new Float64Array(classCount), order: 0 };
      units.push(unit);
      if (key !== undefined) unitOfGroup.set(key, unit);
    }
    unit.rows.push(row);
    const values = labels[row];
    for (let label = 0; label < classCount; label += 1) unit.counts[label] += values[label];
  }
  // A random order, then larger units first: placing big groups early leaves small ones to
  // even out the remainder (for ungrouped data every unit has size 1, so the order is random).
  random.shuffle(units).forEach((unit, index) => {
    unit.order = index;
  });
  const desiredRows = proportions.map((share) => share * rowCount);
  const remaining = new Float64Array(classCount);
  for (const unit of units)
    for (let label = 0; label < classCount; label += 1) remaining[label] += unit.counts[label];
  const desiredPositives = proportions.map((share) =>
    Array.from(remaining, (count) => count * share),
  );
  const assignment = new Int32Array(rowCount).fill(-1);
  const placed = new Uint8Array(units.length);

  const place = (unitIndex: number, label: number | undefined) => {
    const unit = units[unitIndex];
    let best: number[] = [];
    let bestLabel = Number.NEGATIVE_INFINITY;
    let bestRows = Number.NEGATIVE_INFINITY;
    for (let part = 0; part < parts; part += 1) {
      const wantLabel = label === undefined ? 0 : desiredPositives[part][label];
      const wantRows = desiredRows[part];
      if (wantLabel > bestLabel || (wantLabel === bestLabel && wantRows > bestRows)) {
        best = [part];
        bestLabel = wantLabel;
        bestRows = wantRows;
      } else if (wantLabel === bestLabel && wantRows === bestRows) {
        best.push(part);
      }
    }
    const part = best.length === 1 ? best[0] : best[random.int(best.length)];
    for (const row of unit.rows) assignment[row] = part;
    desiredRows[part] -= unit.rows.length;
    for (let other = 0; other < classCount; other += 1) {
      const count = unit.counts[other];
      if (count === 0) continue;
      desiredPositives[part][other] -= count;
      remaining[other] -= count;
    }
    placed[unitIndex] = 1;
  };

  const byPriority = (a: number, b: number, label: number) =>
    units[b].counts[label] - units[a].counts[label] ||
    units[b].rows.length - units[a].rows.length ||
    units[a].order - units[b].order;

  for (;;) {
    let label = -1;
    let fewest = Number.POSITIVE_INFINITY;
    let ties = 0;
    for (let candidate = 0; candidate < classCount; candidate += 1) {
      const count = remaining[candidate];
      if (count <= 0) continue;
      if (count < fewest) {
        fewest = count;
        label = candidate;
        ties = 1;
      } else if (count === fewest) {
        ties += 1;
        // Reservoir choice among labels tied for fewest.
        if (random.int(ties) === 0) label = candidate;
      }
    }
    if (label < 0) break;
    const pending: number[] = [];
    for (let index = 0; index < units.length; index += 1) {
      if (!placed[index] && units[index].counts[label] > 0) pending.push(index);
    }
    pending.sort((a, b) => byPriority(a, b, label));
    for (const index of pending) place(index, label);
  }
  const unlabelled: number[] = [];
  for (let index = 0; index < units.length; index += 1) if (!placed[index]) unlabelled.push(index);
  unlabelled.sort(
    (a, b) => units[b].rows.length - units[a].rows.length || units[a].order - units[b].order,
  );
  for (const index of unlabelled) place(index, undefined);
  return assignment;
}
