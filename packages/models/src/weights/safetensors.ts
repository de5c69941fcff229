import { readFile } from "node:fs/promises";

const MARKER = Symbol.for("medfm.models.SafetensorsError");

/** A malformed or unsupported `.safetensors` file; the message names the file and the fault. */
export class SafetensorsError extends Error {
  readonly [MARKER] = true;
  /** The file (or description) that failed to parse. */
  readonly source: string;

  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = "SafetensorsError";
    this.source = source;
  }

  /** True for a SafetensorsError, even one from another copy of this package. */
  static isInstance(error: unknown): error is SafetensorsError {
    return typeof error === "object" && error !== null && MARKER in error;
  }
}

/** Element types of the safetensors format that this reader decodes. */
export type SafetensorsDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U8"
  | "BOOL";

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** One tensor of a safetensors file, decoded to a JS typed array. */
export interface SafetensorsTensor {
  /** Element type as stored in the file. */
  dtype: SafetensorsDtype;
  /** Shape (row-major, as stored). */
  shape: number[];
  /**
   * Values: floats (F64, F32, F16, BF16) as `Float32Array`; integers and booleans as
   * `Int32Array` (I64 values outside ±2^31 throw rather than wrap).
   */
  values: Float32Array | Int32Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** The free-form `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
  /** Tensors by name, in file order of their data. */
  tensors: Map<string, SafetensorsTensor>;
}

/** The header may not exceed 100 MB (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function decodeValues(
  bytes: Uint8Array,
  dtype: SafetensorsDtype,
  count: number,
  describe: () => string,
): Float32Array | Int32Array {
  // Copy into a fresh, aligned buffer: tensor data need not be aligned in the file.
  if (LITTLE_ENDIAN_HOST && dtype === "F32") return new Float32Array(bytes.slice().buffer);
  if (LITTLE_ENDIAN_HOST && dtype === "I32") return new Int32Array(bytes.slice().buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F32": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i += 1) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case "F64": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i += 1) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case "F16": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i += 1) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case "BF16": {
      const out = new Float32Array(count);
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i += 1) {
        word.setUint32(0, view.getUint16(i * 2, true) << 16);
        out[i] = word.getFloat32(0);
      }
      return out;
    }
    case "I64": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i += 1) {
        const value = view.getBigInt64(i * 8, true);
        if (value > 2147483647n || value < -2147483648n) {
          throw new RangeError(
            `${describe()}: I64 value ${value} at index ${i} does not fit int32`,
          );
        }
        out[i] = Number(value);
      }
      return out;
    }
    case "I32": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i += 1) out[i] = view.getInt32(i * 4, true);
      return out;
    }
    case "I16": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i += 1) out[i] = view.getInt16(i * 2, true);
      return out;
    }
    case "I8": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i += 1) out[i] = view.getInt8(i);
      return out;
    }
    case "U8":
    case "BOOL":
      return Int32Array.from(bytes.subarray(0, count));
  }
}

/**
 * Parses the bytes of a `.safetensors` file: an 8-byte little-endian header length, a JSON
 * header (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`)
 * and the raw little-endian tensor data. Validates every offset, size and dtype and throws a
 * {@link SafetensorsError} naming `source` and the tensor at fault.
 */
export function parseSafetensors(bytes: Uint8Array, source = "safetensors"): SafetensorsFile {
  if (bytes.byteLength < 8) {
    throw new SafetensorsError(
      source,
      `file of ${bytes.byteLength} bytes is shorter than the 8-byte header length`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.byteLength - 8))) {
    throw new SafetensorsError(
      source,
      `header length ${headerLength} exceeds the file (${bytes.byteLength} bytes) or the 100 MB limit`,
    );
  }
  const dataStart = 8 + Number(headerLength);
  const headerText = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart));
  if (!headerText.startsWith("{")) {
    throw new SafetensorsError(
      source,
      `header does not start with "{": ${JSON.stringify(headerText.slice(0, 20))}`,
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerText) as Record<string, unknown>;
  } catch (error) {
    throw new SafetensorsError(source, `header is not valid JSON (${(error as Error).message})`);
  }
  const dataLength = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const rawMetadata = header.__metadata__;
  if (rawMetadata !== undefined) {
    if (typeof rawMetadata !== "object" || rawMetadata === null) {
      throw new SafetensorsError(source, "__metadata__ is not an object");
    }
    for (const [key, value] of Object.entries(rawMetadata)) {
      if (typeof value !== "string") {
        throw new SafetensorsError(
          source,
          `__metadata__.${key} is not a string: ${JSON.stringify(value)}`,
        );
      }
      metadata[key] = value;
    }
  }
  const entries: Array<{
    name: string;
    dtype: SafetensorsDtype;
    shape: number[];
    begin: number;
    end: number;
  }> = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const fault = (message: string) => new SafetensorsError(source, `tensor "${name}": ${message}`);
    if (typeof info !== "object" || info === null) throw fault("entry is not an object");
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== "string" || !(dtype in BYTES_PER_ELEMENT)) {
      throw fault(`unsupported dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every((size) => Number.isSafeInteger(size) && size >= 0)) {
      throw fault(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((offset) => Number.isSafeInteger(offset) && offset >= 0)
    ) {
      throw fault(`data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((product, size) => product * size, 1);
    const expected = count * BYTES_PER_ELEMENT[dtype as SafetensorsDtype];
    if (end < begin || end > dataLength) {
      throw fault(
        `data_offsets [${begin}, ${end}] fall outside the ${dataLength}-byte data section`,
      );
    }
    if (end - begin !== expected) {
      throw fault(
        `holds ${end - begin} bytes but ${dtype} [${(shape as number[]).join(", ")}] needs ${expected}`,
      );
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  // The format requires the tensors to tile the data section without gaps or overlaps.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const entry of entries) {
    if (entry.begin !== cursor) {
      throw new SafetensorsError(
        source,
        `tensor "${entry.name}" starts at byte ${entry.begin} of the data section, expected ${cursor} (gap or overlap)`,
      );
    }
    cursor = entry.end;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError(
      source,
      `data section has ${dataLength - cursor} trailing bytes after the last tensor`,
    );
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const entry of entries) {
    const count = entry.shape.reduce((product, size) => product * size, 1);
    const slice = bytes.subarray(dataStart + entry.begin, dataStart + entry.end);
    const values = decodeValues(
      slice,
      entry.dtype,
      count,
      () => `${source}: tensor "${entry.name}"`,
    );
    tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, values });
  }
  return { metadata, tensors };
}

/** Reads and parses a `.safetensors` file; errors name the path. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  return parseSafetensors(new Uint8Array(await readFile(path)), path);
}

/** A tensor to write: float32 or int32 values with a shape. */
export interface SafetensorsInput {
  /** `F32` for `Float32Array`, `I32` or `I64` for `Int32Array` (I64 for torch's `num_batches_tracked`). */
  dtype: "F32" | "I32" | "I64";
  /** Shape (row-major). */
  shape: readonly number[];
  /** Values in row-major order. */
  values: Float32Array | Int32Array;
}

/**
 * Encodes tensors as a `.safetensors` file (header padded with spaces to 8 bytes, as the
 * reference writer does), readable by `safetensors.torch.load_file`.
 */
export function encodeSafetensors(
  tensors: Map<string, SafetensorsInput>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const count = tensor.shape.reduce((product, size) => product * size, 1);
    if (count !== tensor.values.length) {
      throw new RangeError(
        `encodeSafetensors: tensor "${name}" has ${tensor.values.length} values for shape [${tensor.shape.join(", ")}]`,
      );
    }
    const size = count * BYTES_PER_ELEMENT[tensor.dtype];
    header[name] = {
      dtype: tensor.dtype,
      shape: [...tensor.shape],
      data_offsets: [offset, offset + size],
    };
    offset += size;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padding = (8 - (headerBytes.byteLength % 8)) % 8;
  if (padding > 0)
    headerBytes = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(padding));
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let cursor = 8 + headerBytes.byteLength;
  for (const tensor of tensors.values()) {
    for (let i = 0; i < tensor.values.length; i += 1) {
      if (tensor.dtype === "F32") view.setFloat32(cursor + i * 4, tensor.values[i], true);
      else if (tensor.dtype === "I32") view.setInt32(cursor + i * 4, tensor.values[i], true);
      else view.setBigInt64(cursor + i * 8, BigInt(tensor.values[i]), true);
    }
    cursor += tensor.values.length * BYTES_PER_ELEMENT[tensor.dtype];
  }
  return out;
}
