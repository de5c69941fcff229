import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { BackendUnavailableError } from "./backend-unavailable-error";
import { selectBrowserBackend } from "./select-browser-backend";

describe("selectBrowserBackend", () => {
  it("skips backends whose package was not imported and takes the next that starts", async () => {
    // In Node, @tensorflow/tfjs registers webgl (which cannot start: no GL) and cpu; webgpu's
    // package is not imported here.
    const selection = await selectBrowserBackend({ order: ["webgpu", "webgl", "cpu"] });
    expect(selection.backend).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect(selection.skipped.map((skipped) => skipped.backend)).toEqual(["webgpu", "webgl"]);
    expect(selection.skipped[0].reason).toBe("not registered (its package was not imported)");
  });

  it("fails with every reason when none starts, and refuses unknown names", async () => {
    const error = await selectBrowserBackend({ order: ["webgpu"] }).catch((caught) => caught);
    expect(BackendUnavailableError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe(
      "no browser backend could start: webgpu (not registered (its package was not imported))",
    );
    await expect(selectBrowserBackend({ order: ["tensorflow" as never] })).rejects.toThrow(
      'selectBrowserBackend: unknown backend "tensorflow"',
    );
  });
});
