// Sorting is the whole cost of AP and AUC, so this file avoids a comparator sort where it can:
// each score's high 32 bits, mapped to an order-preserving unsigned integer, are packed with the
// sample index into one exactly representable double (key * 2^21 + index < 2^53), and the doubles
// are sorted by the engine's native typed-array sort. Runs of equal high words (exact ties or
// scores that differ only in their low 32 bits) are then finished with a comparator sort.

const INDEX_BITS = 2 ** 21;
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Returns the sample indices ordered by score descending, ties by index ascending (the order a
 * stable descending sort gives, as PyTorch's CPU `argsort` does). Scores must be finite, with
 * -0 already normalised to +0.
 */
export function descendingOrder(scores: Float64Array): Uint32Array {
  const count = scores.length;
  if (count > INDEX_BITS || !littleEndian || scores.byteOffset % 8 !== 0) {
    return comparatorOrder(scores);
  }
  const words = new Uint32Array(scores.buffer, scores.byteOffset, count * 2);
  const keys = new Float64Array(count);
  for (let index = 0; index < count; index++) {
    const high = words[2 * index + 1];
    // Order-preserving map of the sign-magnitude high word to an unsigned ascending key, then
    // flipped (0xffffffff - key) so that ascending keys mean descending scores.
    const ascending = high & 0x80000000 ? ~high >>> 0 : (high | 0x80000000) >>> 0;
    keys[index] = (0xffffffff - ascending) * INDEX_BITS + index;
  }
  keys.sort();
  const order = new Uint32Array(count);
  for (let position = 0; position < count; position++) {
    const key = keys[position];
    order[position] = key - Math.floor(key / INDEX_BITS) * INDEX_BITS;
  }
  // Finish runs that share a high word: sort them by the full score, ties by index.
  let start = 0;
  let startHigh = Math.floor(keys[0] / INDEX_BITS);
  for (let position = 1; position <= count; position++) {
    const high = position < count ? Math.floor(keys[position] / INDEX_BITS) : -1;
    if (high === startHigh) continue;
    if (position - start > 1) finishRun(scores, order, start, position);
    start = position;
    startHigh = high;
  }
  return order;
}

function finishRun(scores: Float64Array, order: Uint32Array, start: number, end: number): void {
  const first = scores[order[start]];
  let allEqual = true;
  for (let position = start + 1; position < end; position++) {
    if (scores[order[position]] !== first) {
      allEqual = false;
      break;
    }
  }
  // Exact ties are already in index order.
  if (allEqual) return;
  order.subarray(start, end).sort((left, right) => scores[right] - scores[left] || left - right);
}

function comparatorOrder(scores: Float64Array): Uint32Array {
  const order = new Uint32Array(scores.length);
  for (let index = 0; index < order.length; index++) order[index] = index;
  return order.sort((left, right) => scores[right] - scores[left] || left - right);
}
