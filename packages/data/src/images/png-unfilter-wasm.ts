// The two PNG row filters whose reversal is a serial chain through every byte (Average and
// Paeth, with one byte per pixel: 8-bit grayscale, the usual X-ray) as a tiny WebAssembly module,
// assembled here from its opcodes. In WebAssembly the Paeth choice compiles to conditional moves
// and the loads carry no bounds checks, which the JIT cannot promise for the same TypeScript.

import {
  functionCode,
  growWasmMemory,
  lazyWasm,
  name,
  section,
  vector,
  WASM_HEADER,
  type WasmMemory,
} from "./wasm-module";

/** The exported functions; addresses are byte offsets into `memory`. */
export interface UnfilterWasm {
  /** Memory holding the rows; grow it with {@link ensureUnfilterMemory}. */
  memory: WasmMemory;
  /** Reverses Paeth over `[start, end)` of a row whose previous row starts at `up`. */
  paeth(start: number, end: number, up: number): void;
  /** Reverses Average over `[start, end)` of a row whose previous row starts at `up`. */
  average(start: number, end: number, up: number): void;
}

const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  brIf: 0x0d,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  load8: 0x2d,
  store8: 0x3a,
  const: 0x41,
  ltSigned: 0x48,
  ltUnsigned: 0x49,
  leSigned: 0x4c,
  geUnsigned: 0x4f,
  add: 0x6a,
  sub: 0x6b,
  mul: 0x6c,
  and: 0x71,
  shrUnsigned: 0x76,
  void: 0x40,
} as const;

// Parameters and locals of both functions, by index.
const start = 0;
const end = 1;
const up = 2;
const i = 3;
const j = 4;
const left = 5;
const above = 6;
const corner = 7;
const threshold = 8;
const low = 9;
const high = 10;
const choice = 11;

const get = (local: number): number[] => [op.localGet, local];
const set = (local: number): number[] => [op.localSet, local];
const load = (address: number): number[] => [op.localGet, address, op.load8, 0, 0];
const byte = (value: number): number[] => [op.const, value];
// i32.const 255 needs two bytes of signed LEB128.
const mask255 = [op.const, 0xff, 0x01, op.and];

/** `left = (load(i) + predicted) & 255; store(i, left)` where `predicted` is on the stack. */
const storeLeft = [op.add, ...mask255, ...set(left), ...get(i), ...get(left), op.store8, 0, 0];

/** The loop over `i` from `start + 1` to `end`, `j` running along the row above. */
function rowLoop(firstPredicted: number[], body: number[]): number[] {
  return [
    ...load(start),
    ...firstPredicted,
    ...mask255,
    ...set(left),
    ...get(start),
    ...get(left),
    op.store8,
    0,
    0,
    ...get(start),
    ...byte(1),
    op.add,
    ...set(i),
    ...get(up),
    ...byte(1),
    op.add,
    ...set(j),
    op.block,
    op.void,
    ...get(i),
    ...get(end),
    op.geUnsigned,
    op.brIf,
    0,
    op.loop,
    op.void,
    ...body,
    ...get(i),
    ...byte(1),
    op.add,
    op.localTee,
    i,
    ...get(j),
    ...byte(1),
    op.add,
    ...set(j),
    ...get(end),
    op.ltUnsigned,
    op.brIf,
    0,
    op.end,
    op.end,
    op.end,
  ];
}

// Paeth as stb_image writes it: the same choice as the PNG specification's, from a threshold
// and the low and high of left and above, which is shorter on the chain from byte to byte.
const paethBody = rowLoop(
  // First byte: no left neighbour, the predictor is the byte above.
  [...load(up), op.localTee, corner, op.add],
  [
    ...load(j),
    ...set(above),
    ...get(corner),
    ...byte(3),
    op.mul,
    ...get(left),
    ...get(above),
    op.add,
    op.sub,
    ...set(threshold),
    ...get(left),
    ...get(above),
    ...get(left),
    ...get(above),
    op.ltSigned,
    op.select,
    ...set(low),
    ...get(above),
    ...get(left),
    ...get(left),
    ...get(above),
    op.ltSigned,
    op.select,
    ...set(high),
    ...get(low),
    ...get(corner),
    ...get(high),
    ...get(threshold),
    op.leSigned,
    op.select,
    ...set(choice),
    ...load(i),
    ...get(high),
    ...get(choice),
    ...get(threshold),
    ...get(low),
    op.leSigned,
    op.select,
    ...storeLeft,
    ...get(above),
    ...set(corner),
  ],
);

const averageBody = rowLoop(
  [...load(up), ...byte(1), op.shrUnsigned, op.add],
  [...load(i), ...get(left), ...load(j), op.add, ...byte(1), op.shrUnsigned, ...storeLeft],
);

function assemble(): Uint8Array {
  const i32 = 0x7f;
  return new Uint8Array([
    ...WASM_HEADER,
    ...section(1, vector([[0x60, ...vector([[i32], [i32], [i32]]), ...vector([])]])),
    ...section(3, vector([[0], [0]])),
    ...section(5, vector([[0x00, 1]])),
    ...section(
      7,
      vector([
        [...name("paeth"), 0x00, 0],
        [...name("average"), 0x00, 1],
        [...name("memory"), 0x02, 0],
      ]),
    ),
    // Nine i32 locals after the three i32 parameters.
    ...section(
      10,
      vector([functionCode([[9, i32]], paethBody), functionCode([[9, i32]], averageBody)]),
    ),
  ]);
}

/** The compiled module, or `undefined` where WebAssembly is unavailable. */
export const unfilterWasm = lazyWasm<UnfilterWasm>(assemble);

/** Grows the module's memory to hold at least `bytes` bytes and returns a view of them. */
export function ensureUnfilterMemory(wasm: UnfilterWasm, bytes: number): Uint8Array {
  growWasmMemory(wasm.memory, bytes);
  return new Uint8Array(wasm.memory.buffer, 0, bytes);
}
