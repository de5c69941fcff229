import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { encodeSafetensors, parseSafetensors, SafetensorsError } from "./safetensors";

const fixture = fileURLToPath(
  new URL("../__fixtures__/densenet-small.weights.safetensors", import.meta.url),
);

/** Builds a file by hand: header JSON and raw data bytes. */
function file(header: unknown, data: Uint8Array, headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

function parseError(bytes: Uint8Array): SafetensorsError {
  try {
    parseSafetensors(bytes, "bad.safetensors");
  } catch (error) {
    if (SafetensorsError.isInstance(error)) return error;
    throw error;
  }
  throw new Error("parsed without error");
}

describe("parseSafetensors", () => {
  it("reads a file written by the Python fixture script (torch state dict)", () => {
    const parsed = parseSafetensors(new Uint8Array(readFileSync(fixture)), fixture);
    expect(JSON.parse(parsed.metadata.config)).toMatchObject({ growth_rate: 8, num_classes: 5 });
    const conv0 = parsed.tensors.get("features.conv0.weight");
    expect(conv0?.dtype).toBe("F32");
    expect(conv0?.shape).toEqual([16, 3, 7, 7]);
    const counter = parsed.tensors.get("features.norm0.num_batches_tracked");
    expect(counter).toMatchObject({ dtype: "I64", shape: [] });
    expect(Array.from(counter?.values ?? [])).toEqual([3]);
  });

  it("decodes F16, BF16, F64, I64 and U8 values", () => {
    const data = new Uint8Array(2 * 2 + 2 * 2 + 8 + 8 + 2);
    const view = new DataView(data.buffer);
    view.setUint16(0, 0x3c00, true); // 1.0 in half precision
    view.setUint16(2, 0xc100, true); // -2.5
    view.setUint16(4, 0x3f80, true); // 1.0 in bfloat16
    view.setUint16(6, 0x4049, true); // 3.140625
    view.setFloat64(8, 0.1, true);
    view.setBigInt64(16, -7n, true);
    data.set([200, 1], 24);
    const parsed = parseSafetensors(
      file(
        {
          half: { dtype: "F16", shape: [2], data_offsets: [0, 4] },
          brain: { dtype: "BF16", shape: [2], data_offsets: [4, 8] },
          double: { dtype: "F64", shape: [], data_offsets: [8, 16] },
          long: { dtype: "I64", shape: [1], data_offsets: [16, 24] },
          bytes: { dtype: "U8", shape: [2], data_offsets: [24, 26] },
        },
        data,
      ),
    );
    expect(Array.from(parsed.tensors.get("half")?.values ?? [])).toEqual([1, -2.5]);
    expect(Array.from(parsed.tensors.get("brain")?.values ?? [])).toEqual([1, 3.140625]);
    expect(parsed.tensors.get("double")?.values[0]).toBeCloseTo(0.1, 7);
    expect(Array.from(parsed.tensors.get("long")?.values ?? [])).toEqual([-7]);
    expect(Array.from(parsed.tensors.get("bytes")?.values ?? [])).toEqual([200, 1]);
  });

  it("round-trips what encodeSafetensors writes", () => {
    const encoded = encodeSafetensors(
      new Map([
        ["a", { dtype: "F32" as const, shape: [2, 2], values: new Float32Array([1, 2, 3, -4.5]) }],
        ["n", { dtype: "I64" as const, shape: [], values: new Int32Array([42]) }],
      ]),
      { note: "x" },
    );
    const headerLength = Number(new DataView(encoded.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const parsed = parseSafetensors(encoded);
    expect(parsed.metadata).toEqual({ note: "x" });
    expect(parsed.tensors.get("a")).toEqual({
      dtype: "F32",
      shape: [2, 2],
      values: new Float32Array([1, 2, 3, -4.5]),
    });
    expect(Array.from(parsed.tensors.get("n")?.values ?? [])).toEqual([42]);
  });

  it("names the file and the fault for malformed input", () => {
    expect(parseError(new Uint8Array(3)).message).toMatch(/^bad\.safetensors: file of 3 bytes/);
    expect(parseError(file({}, new Uint8Array(0), 999)).message).toMatch(/header length 999/);
    const four = new Uint8Array(4);
    expect(
      parseError(file({ w: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, four)).message,
    ).toMatch(/tensor "w": holds 4 bytes but F32 \[2\] needs 8/);
    expect(
      parseError(file({ w: { dtype: "Q4", shape: [1], data_offsets: [0, 4] } }, four)).message,
    ).toMatch(/tensor "w": unsupported dtype "Q4"/);
    expect(
      parseError(file({ w: { dtype: "F32", shape: [1], data_offsets: [0, 8] } }, four)).message,
    ).toMatch(/fall outside the 4-byte data section/);
    expect(
      parseError(
        file(
          {
            a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
            b: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
          },
          new Uint8Array(8),
        ),
      ).message,
    ).toMatch(/gap or overlap/);
    expect(
      parseError(file({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(6)))
        .message,
    ).toMatch(/2 trailing bytes/);
    const big = new Uint8Array(8);
    new DataView(big.buffer).setBigInt64(0, 2n ** 40n, true);
    expect(() =>
      parseSafetensors(file({ n: { dtype: "I64", shape: [], data_offsets: [0, 8] } }, big), "x"),
    ).toThrow(/I64 value 1099511627776 at index 0 does not fit int32/);
  });
});
