// The two passes of Pillow's 8-bit resampler for one channel as a tiny WebAssembly module with
// 128-bit SIMD, assembled here from its opcodes (like png-unfilter-wasm.ts). The horizontal pass
// multiplies 8 taps at once with i32x4.dot_i16x8_s: each 22-bit weight is split into a signed high
// part (w >> 11) and an unsigned low part (w & 2047), both 16-bit, and the two dot products are
// recombined as hi * 2048 + lo, which is the same 32-bit sum Pillow's scalar loop computes. The
// vertical pass weighs 16 pixels of a row at once with i32x4 multiplies. Both round (+2^21),
// shift by 22 and clamp to 0–255 like Pillow's clip8.

import {
  assembleModule,
  constant,
  get,
  growWasmMemory,
  i32,
  lazyWasm,
  op,
  set,
  tee,
  type WasmMemory,
} from "./wasm-module";

/** The exported functions; addresses are byte offsets into `memory`. */
export interface PilResizeWasm {
  /** Memory holding rows, coefficients and output; grown by {@link ensurePilResizeMemory}. */
  memory: WasmMemory;
  /**
   * For `rows` rows of `stride` bytes at `source` and each of `outWidth` outputs: starts at
   * byte `bounds[out]` (i32) of the row and sums `groups * 8` taps with the i16 weights at
   * `high` and `low` (`groups * 8` per output, zero past the output's taps). Writes
   * `rows × outWidth` bytes at `target`. Reads up to `groups * 8` bytes past a row's last tap.
   */
  horizontal(
    source: number,
    stride: number,
    rows: number,
    outWidth: number,
    bounds: number,
    high: number,
    low: number,
    groups: number,
    target: number,
  ): void;
  /**
   * For each of `outHeight` output rows: sums `count` rows of `rowLength` bytes (stride
   * `rowLength`) from row `first` at `source` (i32 pairs `first, count` at `bounds`) with the
   * i32 weights at `weights` (`ksize` per output row), 16 bytes at a time. Writes
   * `outHeight × rowLength` bytes at `target`, and up to 15 past them; reads up to 15 past a row.
   */
  vertical(
    source: number,
    rowLength: number,
    outHeight: number,
    bounds: number,
    weights: number,
    ksize: number,
    target: number,
    unused1: number,
    unused2: number,
  ): void;
}

/** SIMD instructions: the 0xfd prefix and the opcode as unsigned LEB128. */
const simd = {
  load: [0xfd, 0x00],
  store: [0xfd, 0x0b],
  const: [0xfd, 0x0c],
  i32x4Splat: [0xfd, 0x11],
  i32x4ExtractLane: [0xfd, 0x1b],
  load64Zero: [0xfd, 0x5d],
  i8x16NarrowI16x8Unsigned: [0xfd, 0x66],
  i16x8NarrowI32x4Signed: [0xfd, 0x85, 0x01],
  i16x8ExtendLowI8x16Unsigned: [0xfd, 0x89, 0x01],
  i16x8ExtendHighI8x16Unsigned: [0xfd, 0x8a, 0x01],
  i32x4ExtendLowI16x8Unsigned: [0xfd, 0xa9, 0x01],
  i32x4ExtendHighI16x8Unsigned: [0xfd, 0xaa, 0x01],
  i32x4Shl: [0xfd, 0xab, 0x01],
  i32x4ShrSigned: [0xfd, 0xac, 0x01],
  i32x4Add: [0xfd, 0xae, 0x01],
  i32x4Mul: [0xfd, 0xb5, 0x01],
  i32x4DotI16x8Signed: [0xfd, 0xba, 0x01],
} as const;

const v128 = 0x7b;
const memarg = [0, 0];

/** `local += amount` where `amount` is the code that pushes it. */
const increase = (local: number, amount: number[]): number[] => [
  ...get(local),
  ...amount,
  op.add,
  ...set(local),
];
/** A do-while loop: `body`, then repeat while `condition` (code pushing an i32) holds. */
const repeat = (body: number[], condition: number[]): number[] => [
  op.loop,
  op.void,
  ...body,
  ...condition,
  op.brIf,
  0,
  op.end,
];
/** Pushes `value >> 22` clamped to 0–255 (Pillow's clip8), where `value` sits in `local`. */
const clip8 = (local: number): number[] => [
  ...get(local),
  ...constant(22),
  op.shrSigned,
  ...set(local),
  ...constant(0),
  ...get(local),
  ...get(local),
  ...constant(0),
  op.ltSigned,
  op.select,
  ...set(local),
  ...constant(255),
  ...get(local),
  ...get(local),
  ...constant(255),
  op.gtSigned,
  op.select,
];

const half = 1 << 21;

// horizontal: parameters 0–8, then i32 locals 9–16 and v128 locals 17–19.
const horizontalBody = ((): number[] => {
  const [source, stride, rows, outWidth, bounds, high, low, groups, target] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8,
  ];
  const [row, out, pointer, weight, group, sum, rowStart] = [9, 10, 11, 12, 13, 14, 15];
  const [accumulatorHigh, accumulatorLow, pixels] = [17, 18, 19];
  const zero = [...simd.const, ...new Array<number>(16).fill(0)];
  /** `accumulator += dot(pixels, v128.load(table + weight))`. */
  const dot = (accumulator: number, table: number): number[] => [
    ...get(accumulator),
    ...get(pixels),
    ...get(table),
    ...get(weight),
    op.add,
    ...simd.load,
    ...memarg,
    ...simd.i32x4DotI16x8Signed,
    ...simd.i32x4Add,
    ...set(accumulator),
  ];
  const lane = (index: number): number[] => [...get(pixels), ...simd.i32x4ExtractLane, index];
  const tapGroup = [
    ...get(pointer),
    ...simd.load64Zero,
    ...memarg,
    ...simd.i16x8ExtendLowI8x16Unsigned,
    ...set(pixels),
    ...dot(accumulatorHigh, high),
    ...dot(accumulatorLow, low),
    ...increase(pointer, constant(8)),
    ...increase(weight, constant(16)),
    ...get(group),
    ...constant(1),
    op.sub,
    ...tee(group),
  ];
  const output = [
    // pointer = rowStart + bounds[out]; weight = out * groups * 16
    ...get(rowStart),
    ...get(bounds),
    ...get(out),
    ...constant(2),
    op.shl,
    op.add,
    op.load,
    2,
    0,
    op.add,
    ...set(pointer),
    ...get(out),
    ...get(groups),
    op.mul,
    ...constant(4),
    op.shl,
    ...set(weight),
    ...zero,
    ...set(accumulatorHigh),
    ...zero,
    ...set(accumulatorLow),
    ...get(groups),
    ...set(group),
    ...repeat(tapGroup, []),
    // pixels = (high << 11) + low; sum = its four lanes + 2^21
    ...get(accumulatorHigh),
    ...constant(11),
    ...simd.i32x4Shl,
    ...get(accumulatorLow),
    ...simd.i32x4Add,
    ...set(pixels),
    ...lane(0),
    ...lane(1),
    op.add,
    ...lane(2),
    op.add,
    ...lane(3),
    op.add,
    ...constant(half),
    op.add,
    ...set(sum),
    ...get(target),
    ...clip8(sum),
    op.store8,
    0,
    0,
    ...increase(target, constant(1)),
    ...increase(out, constant(1)),
    ...get(out),
    ...get(outWidth),
    op.ltUnsigned,
  ];
  return [
    ...get(source),
    ...set(rowStart),
    ...repeat(
      [
        ...constant(0),
        ...set(out),
        ...repeat(output, []),
        ...increase(rowStart, get(stride)),
        ...increase(row, constant(1)),
      ],
      [...get(row), ...get(rows), op.ltUnsigned],
    ),
  ];
})();

// vertical: parameters 0–8, then i32 locals 9–16 and v128 locals 17–23.
const verticalBody = ((): number[] => {
  const [source, rowLength, outHeight, bounds, weights, ksize, target] = [0, 1, 2, 3, 4, 5, 6];
  const [out, x, pointer, weight, tap, rowStart, weightRow] = [9, 10, 11, 12, 13, 14, 15];
  const [a0, a1, a2, a3, pixels, factor, widened] = [17, 18, 19, 20, 21, 22, 23];
  /** `accumulator += extend(widened) * factor`. */
  const weigh = (accumulator: number, extend: readonly number[]): number[] => [
    ...get(accumulator),
    ...get(widened),
    ...extend,
    ...get(factor),
    ...simd.i32x4Mul,
    ...simd.i32x4Add,
    ...set(accumulator),
  ];
  const shifted = (accumulator: number): number[] => [
    ...get(accumulator),
    ...constant(22),
    ...simd.i32x4ShrSigned,
  ];
  const tapBody = [
    ...get(weight),
    op.load,
    2,
    0,
    ...simd.i32x4Splat,
    ...set(factor),
    ...get(pointer),
    ...simd.load,
    ...memarg,
    ...tee(pixels),
    ...simd.i16x8ExtendLowI8x16Unsigned,
    ...set(widened),
    ...weigh(a0, simd.i32x4ExtendLowI16x8Unsigned),
    ...weigh(a1, simd.i32x4ExtendHighI16x8Unsigned),
    ...get(pixels),
    ...simd.i16x8ExtendHighI8x16Unsigned,
    ...set(widened),
    ...weigh(a2, simd.i32x4ExtendLowI16x8Unsigned),
    ...weigh(a3, simd.i32x4ExtendHighI16x8Unsigned),
    ...increase(pointer, get(rowLength)),
    ...increase(weight, constant(4)),
    ...get(tap),
    ...constant(1),
    op.sub,
    ...tee(tap),
  ];
  const chunk = [
    ...constant(half),
    ...simd.i32x4Splat,
    ...tee(a0),
    ...tee(a1),
    ...tee(a2),
    ...set(a3),
    ...get(rowStart),
    ...get(x),
    op.add,
    ...set(pointer),
    ...get(weightRow),
    ...set(weight),
    // tap = count = bounds[out * 2 + 1]
    ...get(bounds),
    ...get(out),
    ...constant(3),
    op.shl,
    op.add,
    op.load,
    2,
    4,
    ...set(tap),
    ...repeat(tapBody, []),
    ...get(target),
    ...shifted(a0),
    ...shifted(a1),
    ...simd.i16x8NarrowI32x4Signed,
    ...shifted(a2),
    ...shifted(a3),
    ...simd.i16x8NarrowI32x4Signed,
    ...simd.i8x16NarrowI16x8Unsigned,
    ...simd.store,
    ...memarg,
    ...increase(target, constant(16)),
    ...increase(x, constant(16)),
    ...get(x),
    ...get(rowLength),
    op.ltUnsigned,
  ];
  return repeat(
    [
      // rowStart = source + bounds[out * 2] * rowLength; weightRow = weights + out * ksize * 4
      ...get(source),
      ...get(bounds),
      ...get(out),
      ...constant(3),
      op.shl,
      op.add,
      op.load,
      2,
      0,
      ...get(rowLength),
      op.mul,
      op.add,
      ...set(rowStart),
      ...get(weights),
      ...get(out),
      ...get(ksize),
      op.mul,
      ...constant(2),
      op.shl,
      op.add,
      ...set(weightRow),
      // target = start of this output row (the last chunk may have run past the previous one)
      ...constant(0),
      ...set(x),
      ...repeat(chunk, []),
      ...get(target),
      ...get(x),
      op.sub,
      ...get(rowLength),
      op.add,
      ...set(target),
      ...increase(out, constant(1)),
    ],
    [...get(out), ...get(outHeight), op.ltUnsigned],
  );
})();

function assemble(): Uint8Array {
  return assembleModule(new Array<number>(9).fill(i32), [
    {
      name: "horizontal",
      locals: [
        [8, i32],
        [3, v128],
      ],
      body: [...horizontalBody, op.end],
    },
    {
      name: "vertical",
      locals: [
        [8, i32],
        [7, v128],
      ],
      body: [...verticalBody, op.end],
    },
  ]);
}

/** The compiled module, or `undefined` where WebAssembly or its SIMD is unavailable. */
export const pilResizeWasm = lazyWasm<PilResizeWasm>(assemble);

/** Grows the module's memory to at least `bytes` bytes. */
export function ensurePilResizeMemory(wasm: PilResizeWasm, bytes: number): void {
  growWasmMemory(wasm.memory, bytes);
}
