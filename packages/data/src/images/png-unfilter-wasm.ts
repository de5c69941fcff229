// The two PNG row filters whose reversal is a serial chain through every byte (Average and
// Paeth, with one byte per pixel: 8-bit grayscale, the usual X-ray) as a tiny WebAssembly module,
// assembled here from its opcodes. In WebAssembly the Paeth choice compiles to conditional moves
// and the loads carry no bounds checks, which the JIT cannot promise for the same TypeScript.
//
// Each byte waits for the byte to its left, so one row runs at the latency of that chain, not at
// the processor's throughput. The byte below waits only for the bytes above and to the left, so
// consecutive rows are reversed together, column by column: their chains are independent and the
// processor overlaps them (a wavefront), which about halves the time per row for two rows.

import {
  assembleModule,
  constant,
  get,
  growWasmMemory,
  i32,
  lazyWasm,
  op,
  set,
  type WasmMemory,
} from "./wasm-module";

/** A filter type whose reversal runs in WebAssembly: 3 (Average) or 4 (Paeth). */
export type ChainedFilter = 3 | 4;

/** Most consecutive rows one call of {@link UnfilterWasm.reverse} takes. */
export const MAX_WAVEFRONT_ROWS = 3;

/** The compiled module; addresses are byte offsets into `memory`. */
export interface UnfilterWasm {
  /** Memory holding the rows; grow it with {@link ensureUnfilterMemory}. */
  memory: WasmMemory;
  /**
   * Reverses the filters `filters` (1 to {@link MAX_WAVEFRONT_ROWS} of them, each 3 or 4) of as
   * many consecutive rows over their bytes `[start, end)`: the first row's bytes start at
   * `start`, each further row's `stride` bytes later, and the row above the first is at
   * `start − stride`, already reversed.
   */
  reverse(filters: readonly ChainedFilter[], start: number, end: number, stride: number): void;
}

// Parameters, then locals shared by all rows, then three locals per row, by index.
const start = 0;
const end = 1;
const stride = 2;
const i = 3;
const address = 4;
const threshold = 5;
const low = 6;
const high = 7;
const choice = 8;
const sharedLocals = 9;
const left = (row: number): number => sharedLocals + 3 * row;
const above = (row: number): number => sharedLocals + 3 * row + 1;
const corner = (row: number): number => sharedLocals + 3 * row + 2;

const load8 = [op.load8, 0, 0];
const mask255 = [...constant(255), op.and];

/**
 * The predictor of `row` from its locals, left on the stack. Paeth as stb_image writes it: the
 * same choice as the PNG specification's, from a threshold and the low and high of left and
 * above, which is shorter on the chain from byte to byte.
 */
function predictor(filter: ChainedFilter, row: number): number[] {
  const [a, b, c] = [left(row), above(row), corner(row)];
  if (filter === 3) return [...get(a), ...get(b), op.add, ...constant(1), op.shrUnsigned];
  return [
    ...get(c),
    ...constant(3),
    op.mul,
    ...get(a),
    ...get(b),
    op.add,
    op.sub,
    ...set(threshold),
    ...get(a),
    ...get(b),
    ...get(a),
    ...get(b),
    op.ltSigned,
    op.select,
    ...set(low),
    ...get(b),
    ...get(a),
    ...get(a),
    ...get(b),
    op.ltSigned,
    op.select,
    ...set(high),
    ...get(low),
    ...get(c),
    ...get(high),
    ...get(threshold),
    op.leSigned,
    op.select,
    ...set(choice),
    ...get(high),
    ...get(choice),
    ...get(threshold),
    ...get(low),
    op.leSigned,
    op.select,
  ];
}

/**
 * One column of every row: the byte above the first row is loaded, the byte above each further
 * row is the one just reversed in the row before, which is why the chains overlap.
 */
function column(filters: readonly ChainedFilter[]): number[] {
  const body = [...get(i), ...get(stride), op.sub, ...set(address)];
  filters.forEach((filter, row) => {
    body.push(
      ...(row === 0 ? [...get(address), ...load8] : get(left(row - 1))),
      ...set(above(row)),
    );
    body.push(...get(address), ...get(stride), op.add, ...set(address));
    body.push(...get(address), ...get(address), ...load8, ...predictor(filter, row));
    body.push(op.add, ...mask255, op.localTee, left(row), op.store8, 0, 0);
    body.push(...get(above(row)), ...set(corner(row)));
  });
  return body;
}

/**
 * `for (i = start; i < end; i++) column()`. Left and corner start at 0, which gives the
 * specification's first byte for both filters (Paeth predicts the byte above, Average half of it).
 */
function rowsBody(filters: readonly ChainedFilter[]): number[] {
  return [
    ...get(start),
    op.localTee,
    i,
    ...get(end),
    op.geUnsigned,
    op.brIf,
    0,
    op.loop,
    op.void,
    ...column(filters),
    ...get(i),
    ...constant(1),
    op.add,
    op.localTee,
    i,
    ...get(end),
    op.ltUnsigned,
    op.brIf,
    0,
    op.end,
    op.end,
  ];
}

/** Every sequence of 1 to {@link MAX_WAVEFRONT_ROWS} chained filters, the export names "3", "34", … */
function allSequences(): ChainedFilter[][] {
  let sequences: ChainedFilter[][] = [[]];
  const all: ChainedFilter[][] = [];
  for (let length = 1; length <= MAX_WAVEFRONT_ROWS; length += 1) {
    sequences = sequences.flatMap((sequence) => [
      [...sequence, 3],
      [...sequence, 4],
    ]);
    all.push(...sequences);
  }
  return all;
}

const sequences = allSequences();

function assemble(): Uint8Array {
  return assembleModule(
    [i32, i32, i32],
    sequences.map((filters) => ({
      name: filters.join(""),
      locals: [[sharedLocals - 3 + 3 * filters.length, i32]],
      body: rowsBody(filters),
    })),
  );
}

type Reverse = (start: number, end: number, stride: number) => void;

/** The compiled module, or `undefined` where WebAssembly is unavailable. */
export const unfilterWasm = lazyWasm<UnfilterWasm>(assemble, (exports) => {
  const functions = exports as Record<string, Reverse> & { memory: WasmMemory };
  // By sequenceCode, so that the hot path builds no string per call.
  const byCode: Reverse[] = [];
  for (const filters of sequences) byCode[sequenceCode(filters)] = functions[filters.join("")];
  return {
    memory: functions.memory,
    reverse(filters, from, to, rowStride) {
      const reverse =
        filters.length <= MAX_WAVEFRONT_ROWS ? byCode[sequenceCode(filters)] : undefined;
      if (reverse === undefined) throw new RangeError(`no wasm unfilter for filters ${filters}`);
      reverse(from, to, rowStride);
    },
  };
});

/** A number per filter sequence: a leading 1 bit, then one bit per filter (Paeth 1). */
function sequenceCode(filters: readonly ChainedFilter[]): number {
  let code = 1;
  for (const filter of filters) code = code * 2 + (filter - 3);
  return code;
}

/** Grows the module's memory to hold at least `bytes` bytes and returns a view of them. */
export function ensureUnfilterMemory(wasm: UnfilterWasm, bytes: number): Uint8Array {
  growWasmMemory(wasm.memory, bytes);
  return new Uint8Array(wasm.memory.buffer, 0, bytes);
}
