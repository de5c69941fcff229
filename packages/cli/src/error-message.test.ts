import { describe, expect, it } from "vitest";
import { errorMessage } from "./error-message";

describe("errorMessage", () => {
  it("explains a wasm abort and says what to change", () => {
    const abort = new WebAssembly.RuntimeError("Aborted(). Build with -sASSERTIONS for more info.");
    expect(errorMessage(abort)).toBe(
      "the wasm backend aborted (Aborted(). Build with -sASSERTIONS for more info.): most often its memory, a WebAssembly heap of at most 4 GiB, ran out. Use a smaller --batch-size or --image-size, or the native tensorflow backend (medfm backend install)",
    );
  });

  it("prints other errors' messages as they are", () => {
    expect(errorMessage(new RangeError("--shots: bad range 5-2"))).toBe("--shots: bad range 5-2");
    expect(errorMessage(new WebAssembly.RuntimeError("unreachable"))).toBe("unreachable");
    expect(errorMessage("plain")).toBe("plain");
  });
});
