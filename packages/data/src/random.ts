/**
 * The one seeded random generator every random choice in MedFM.js uses (splits, few-shot
 * sampling, shuffling, augmentation), so a seed reproduces a run exactly on any machine.
 *
 * It is sfc32 (Small Fast Counter, from PractRand) seeded through splitmix32: fast, 32-bit
 * arithmetic only, and good enough statistically for sampling and augmentation.
 */
export interface Random {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** Uniform float in [low, high). */
  uniform(low: number, high: number): number;
  /** Standard normal sample (Box–Muller). */
  normal(): number;
  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[];
  /** A new independent generator derived from this one's state and `key`. */
  fork(key: number | string): Random;
  /**
   * Where the generator stands, as plain JSON-safe numbers: {@link Random.setState} with it
   * continues the sequence exactly from here (checkpoints store it to resume training exactly).
   */
  getState(): RandomState;
  /** Moves the generator to a state from {@link Random.getState}; throws on a malformed one. */
  setState(state: RandomState): void;
}

/** A {@link Random}'s position: the sfc32 words and the Box–Muller spare, if one is pending. */
export interface RandomState {
  /** The four 32-bit words of sfc32 (a, b, c, d), unsigned. */
  sfc32: [number, number, number, number];
  /** The second normal of the last Box–Muller pair, not yet returned; `null` when none. */
  spareNormal: number | null;
}

function checkRandomState(state: RandomState): void {
  const words = (state as Partial<RandomState> | null)?.sfc32;
  if (
    !Array.isArray(words) ||
    words.length !== 4 ||
    !words.every((word) => Number.isInteger(word) && word >= 0 && word <= 0xffffffff)
  ) {
    throw new RangeError(
      `Random.setState: sfc32 must be four unsigned 32-bit integers, got ${JSON.stringify(words)}`,
    );
  }
  const spare = state.spareNormal;
  if (spare !== null && !Number.isFinite(spare)) {
    throw new RangeError(
      `Random.setState: spareNormal must be a finite number or null, got ${String(spare)}`,
    );
  }
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Hashes a string or number (and optional further keys) to a 32-bit seed. */
export function hashSeed(...keys: Array<number | string>): number {
  let h = 0x811c9dc5;
  for (const key of keys) {
    const text = typeof key === "number" ? `n${key}` : `s${key}`;
    for (let i = 0; i < text.length; i += 1) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Creates a seeded generator. The same seed gives the same sequence everywhere.
 * @param seed an integer or a string; strings are hashed.
 */
export function createRandom(seed: number | string): Random {
  const init = splitmix32(typeof seed === "number" ? hashSeed(seed) : hashSeed(seed));
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  const nextUint32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i += 1) nextUint32();
  let spareNormal: number | undefined;
  const random: Random = {
    next: () => nextUint32() / 4294967296,
    int: (maxExclusive) => {
      if (!Number.isInteger(maxExclusive) || maxExclusive <= 0) {
        throw new RangeError(
          `Random.int: maxExclusive must be a positive integer, got ${maxExclusive}`,
        );
      }
      return Math.floor(random.next() * maxExclusive);
    },
    uniform: (low, high) => low + (high - low) * random.next(),
    normal: () => {
      if (spareNormal !== undefined) {
        const value = spareNormal;
        spareNormal = undefined;
        return value;
      }
      let u = 0;
      while (u === 0) u = random.next();
      const v = random.next();
      const radius = Math.sqrt(-2 * Math.log(u));
      spareNormal = radius * Math.sin(2 * Math.PI * v);
      return radius * Math.cos(2 * Math.PI * v);
    },
    shuffle: (items) => {
      for (let i = items.length - 1; i > 0; i -= 1) {
        const j = random.int(i + 1);
        const swap = items[i];
        items[i] = items[j];
        items[j] = swap;
      }
      return items;
    },
    fork: (key) => createRandom(hashSeed(nextUint32(), key)),
    getState: () => ({
      sfc32: [a >>> 0, b >>> 0, c >>> 0, d >>> 0],
      spareNormal: spareNormal ?? null,
    }),
    setState: (state) => {
      checkRandomState(state);
      [a, b, c, d] = state.sfc32;
      spareNormal = state.spareNormal ?? undefined;
    },
  };
  return random;
}
