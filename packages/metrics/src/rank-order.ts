// Sorting is the whole cost of AP and AUC. A least-significant-digit radix sort on the scores'
// IEEE-754 bits beats any comparison sort here, and it is stable, so tied scores stay in sample
// order for free. Scores that are all exact float32 values (a model's output) sort on 32-bit
// keys (two 16-bit digits); others on 64-bit keys (four digits). A digit that is the same for
// every score is skipped.

const DIGIT_BITS = 16;
const BUCKETS = 1 << DIGIT_BITS;
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Keys that sort ascending in the order of descending scores, and what travels with them. */
export interface SortedKeys<Payload extends Uint8Array | Uint32Array> {
  /** High 32 bits of each key (the whole key for float32 scores), ascending. */
  readonly high: Uint32Array;
  /** Low 32 bits of each key; absent for float32 scores. */
  readonly low: Uint32Array | undefined;
  /** The payload, reordered with the keys. */
  readonly payload: Payload;
}

/**
 * Sorts scores descending (ties keep their original order) carrying `payload` along. Tied scores
 * have equal keys (-0 and +0 included). Scores must not be NaN.
 */
export function sortDescending<Payload extends Uint8Array | Uint32Array>(
  scores: Float64Array | Float32Array,
  payload: Payload,
): SortedKeys<Payload> {
  const count = scores.length;
  if (scores instanceof Float32Array) return sortFloat32(scores, payload);
  // A positive score's bits inverted with the sign bit cleared, a negative score's bits as they
  // are: unsigned keys ascending means scores descending. Key building, the float32 check and
  // the digit histograms share one pass.
  const single = new Float32Array(scores);
  const singleBits = new Uint32Array(single.buffer);
  const high = new Uint32Array(count);
  let histograms = new Uint32Array(2 * BUCKETS);
  let float32 = true;
  for (let index = 0; index < count; index++) {
    if (single[index] !== scores[index]) {
      float32 = false;
      break;
    }
    const value = singleBits[index];
    // -0 (0x80000000) ties with +0, so it takes +0's key.
    const key = value & 0x80000000 && value !== 0x80000000 ? value : ~value & 0x7fffffff;
    high[index] = key;
    histograms[key & 0xffff]++;
    histograms[BUCKETS + (key >>> 16)]++;
  }
  if (float32) return radixSort(high, undefined, payload, histograms);

  const low = new Uint32Array(count);
  histograms = new Uint32Array(4 * BUCKETS);
  const bits = new Uint32Array(Float64Array.from(scores).buffer);
  const [lowWord, highWord] = littleEndian ? [0, 1] : [1, 0];
  for (let index = 0; index < count; index++) {
    let highKey = bits[2 * index + highWord];
    let lowKey = bits[2 * index + lowWord];
    if (!(highKey & 0x80000000) || (highKey === 0x80000000 && lowKey === 0)) {
      highKey = ~highKey & 0x7fffffff;
      lowKey = ~lowKey >>> 0;
    }
    high[index] = highKey;
    low[index] = lowKey;
    histograms[lowKey & 0xffff]++;
    histograms[BUCKETS + (lowKey >>> 16)]++;
    histograms[2 * BUCKETS + (highKey & 0xffff)]++;
    histograms[3 * BUCKETS + (highKey >>> 16)]++;
  }
  return radixSort(high, low, payload, histograms);
}

function sortFloat32<Payload extends Uint8Array | Uint32Array>(
  scores: Float32Array,
  payload: Payload,
): SortedKeys<Payload> {
  const count = scores.length;
  const bits =
    scores.byteOffset % 4 === 0
      ? new Uint32Array(scores.buffer, scores.byteOffset, count)
      : new Uint32Array(scores.slice().buffer);
  const high = new Uint32Array(count);
  const histograms = new Uint32Array(2 * BUCKETS);
  for (let index = 0; index < count; index++) {
    const value = bits[index];
    const key = value & 0x80000000 && value !== 0x80000000 ? value : ~value & 0x7fffffff;
    high[index] = key;
    histograms[key & 0xffff]++;
    histograms[BUCKETS + (key >>> 16)]++;
  }
  return radixSort(high, undefined, payload, histograms);
}

/** Stable LSD radix sort on (high, low) with 16-bit digits, least significant digit first. */
function radixSort<Payload extends Uint8Array | Uint32Array>(
  high: Uint32Array,
  low: Uint32Array | undefined,
  payload: Payload,
  histograms: Uint32Array,
): SortedKeys<Payload> {
  const count = high.length;
  const digits = low ? 4 : 2;
  let nextHigh: Uint32Array = new Uint32Array(count);
  let nextLow: Uint32Array | undefined = low ? new Uint32Array(count) : undefined;
  let nextPayload = new (payload.constructor as new (length: number) => Payload)(count);
  const offsets = new Uint32Array(BUCKETS);
  for (let digit = 0; digit < digits; digit++) {
    const histogram = histograms.subarray(digit * BUCKETS, (digit + 1) * BUCKETS);
    let trivial = false;
    let running = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      const size = histogram[bucket];
      if (size === count) trivial = true;
      offsets[bucket] = running;
      running += size;
    }
    // A digit shared by every score reorders nothing.
    if (trivial) continue;
    const source = digit < digits - 2 ? low! : high;
    const shift = digit % 2 === 0 ? 0 : DIGIT_BITS;
    if (low && nextLow) {
      for (let position = 0; position < count; position++) {
        const target = offsets[(source[position] >>> shift) & 0xffff]++;
        nextHigh[target] = high[position];
        nextLow[target] = low[position];
        nextPayload[target] = payload[position];
      }
      [low, nextLow] = [nextLow, low];
    } else {
      for (let position = 0; position < count; position++) {
        const target = offsets[(source[position] >>> shift) & 0xffff]++;
        nextHigh[target] = high[position];
        nextPayload[target] = payload[position];
      }
    }
    [high, nextHigh] = [nextHigh, high];
    [payload, nextPayload] = [nextPayload, payload];
  }
  return { high, low, payload };
}

/**
 * Returns the sample indices ordered by score descending, ties by index ascending (the order a
 * stable descending sort gives, as PyTorch's CPU `argsort` does). Scores must not be NaN.
 */
export function descendingOrder(scores: Float64Array | Float32Array): Uint32Array {
  const indices = new Uint32Array(scores.length);
  for (let index = 0; index < indices.length; index++) indices[index] = index;
  return sortDescending(scores, indices).payload;
}
