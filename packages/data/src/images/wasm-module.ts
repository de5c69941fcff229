// The WebAssembly binary format as far as our hand-assembled modules need it (png-unfilter-wasm.ts,
// pil-resize-wasm.ts): the opcodes they use, LEB128 numbers, vectors, sections, names, function
// bodies, and a lazy instantiation that reports an unavailable WebAssembly (or SIMD) as
// `undefined`.

/** The part of a `WebAssembly.Memory` used here (the package compiles without DOM types). */
export interface WasmMemory {
  /** The memory's bytes; replaced by a new buffer when the memory grows. */
  readonly buffer: ArrayBuffer;
  /** Adds `pages` pages of 64 KiB. */
  grow(pages: number): number;
}

/** The `\0asm` magic and version 1 that start every module. */
export const WASM_HEADER: readonly number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** The scalar instructions the modules use (i32 unless named otherwise). */
export const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  brIf: 0x0d,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  load: 0x28,
  load8: 0x2d,
  store8: 0x3a,
  const: 0x41,
  ltSigned: 0x48,
  ltUnsigned: 0x49,
  gtSigned: 0x4a,
  leSigned: 0x4c,
  geUnsigned: 0x4f,
  add: 0x6a,
  sub: 0x6b,
  mul: 0x6c,
  and: 0x71,
  shl: 0x74,
  shrSigned: 0x75,
  shrUnsigned: 0x76,
  void: 0x40,
} as const;

/** The i32 value type. */
export const i32 = 0x7f;

/** `local.get local`. */
export const get = (local: number): number[] => [op.localGet, local];
/** `local.set local`. */
export const set = (local: number): number[] => [op.localSet, local];
/** `local.tee local`. */
export const tee = (local: number): number[] => [op.localTee, local];
/** `i32.const value`. */
export const constant = (value: number): number[] => [op.const, ...signed(value)];

/** Unsigned LEB128. */
export function unsigned(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  do {
    let next = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) next |= 0x80;
    bytes.push(next);
  } while (rest !== 0);
  return bytes;
}

/** Signed LEB128, for `i32.const`. */
export function signed(value: number): number[] {
  const bytes: number[] = [];
  let rest = value | 0;
  for (;;) {
    const next = rest & 0x7f;
    rest >>= 7;
    if ((rest === 0 && (next & 0x40) === 0) || (rest === -1 && (next & 0x40) !== 0)) {
      bytes.push(next);
      return bytes;
    }
    bytes.push(next | 0x80);
  }
}

/** A vector: its length, then its items. */
export const vector = (items: number[][]): number[] => [...unsigned(items.length), ...items.flat()];

/** A section with its id and byte size. */
export const section = (id: number, content: number[]): number[] => [
  id,
  ...unsigned(content.length),
  ...content,
];

/** A name (ASCII). */
export const name = (text: string): number[] => [
  ...unsigned(text.length),
  ...Array.from(text, (c) => c.charCodeAt(0)),
];

/** One entry of the code section: local declarations (`[count, type]` pairs), then `body`, which ends with `end`. */
export const functionCode = (locals: number[][], body: number[]): number[] => {
  const code = [...vector(locals), ...body];
  return [...unsigned(code.length), ...code];
};

/** One function of {@link assembleModule}: its export name, local declarations and body. */
export interface WasmFunction {
  /** The name it is exported under. */
  name: string;
  /** `[count, type]` pairs of locals after the parameters. */
  locals: number[][];
  /** The instructions, ending with `end`. */
  body: number[];
}

/**
 * The binary of a module whose functions all take `params` (value types) and return nothing,
 * each exported under its name, with one memory (at least one page) exported as `memory`.
 */
export function assembleModule(params: number[], functions: WasmFunction[]): Uint8Array {
  return new Uint8Array([
    ...WASM_HEADER,
    ...section(1, vector([[0x60, ...vector(params.map((type) => [type])), ...vector([])]])),
    ...section(3, vector(functions.map(() => [0]))),
    ...section(5, vector([[0x00, 1]])),
    ...section(
      7,
      vector([
        ...functions.map((entry, index) => [...name(entry.name), 0x00, index]),
        [...name("memory"), 0x02, 0],
      ]),
    ),
    ...section(10, vector(functions.map((entry) => functionCode(entry.locals, entry.body)))),
  ]);
}

/** The WebAssembly global of Node.js, typed as far as this module uses it. */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
}

/**
 * A function that compiles `assemble()`'s module on first call and returns its exports (passed
 * through `wrap` when given), or `undefined` (every time) where WebAssembly or a feature the
 * module uses is unavailable.
 */
export function lazyWasm<Exports>(
  assemble: () => Uint8Array,
  wrap: (exports: object) => Exports = (exports) => exports as Exports,
): () => Exports | undefined {
  let exports: Exports | null | undefined;
  return () => {
    if (exports === undefined) {
      try {
        const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
        exports = api ? wrap(new api.Instance(new api.Module(assemble())).exports) : null;
      } catch {
        exports = null;
      }
    }
    return exports ?? undefined;
  };
}

/** Grows `memory` to at least `bytes` bytes. */
export function growWasmMemory(memory: WasmMemory, bytes: number): void {
  const page = 65536;
  const have = memory.buffer.byteLength;
  if (have < bytes) memory.grow(Math.ceil((bytes - have) / page));
}
