import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildModelCard } from "./model-card";

const directory = mkdtempSync(join(tmpdir(), "medfm-card-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function writeModelJson(
  head: Record<string, unknown>,
  metadata: Record<string, unknown>,
  preprocessing?: Record<string, unknown>,
): void {
  writeFileSync(
    join(directory, "model.json"),
    JSON.stringify({
      modelTopology: { backbone: { type: "densenet" }, head },
      userDefinedMetadata: metadata,
      ...(preprocessing ? { preprocessing } : {}),
    }),
  );
}

describe("buildModelCard", () => {
  it("gives a multi-label model the 0.5 sigmoid threshold and the task's classes", async () => {
    writeModelJson(
      { type: "linear", task: "multi-label", numClasses: 19 },
      { task: "chest", imageSize: 96 },
    );
    const card = await buildModelCard(directory, undefined);
    expect(card).toMatchObject({
      task: "chest",
      kind: "multi-label",
      threshold: 0.5,
      imageSize: 96,
    });
    expect(card.classes).toHaveLength(19);
    expect(card.classes[0]).toBe("pleural_effusion");
  });

  it("prefers the head's class names, and names model.json when no size is recorded", async () => {
    writeModelJson({ type: "mlp", task: "multi-class", numClasses: 2, classes: ["a", "b"] }, {});
    await expect(buildModelCard(directory, undefined)).rejects.toThrow(
      `${join(directory, "model.json")} records no imageSize: pass --image-size`,
    );
    const card = await buildModelCard(directory, undefined, { imageSize: 64 });
    expect(card).toMatchObject({
      kind: "multi-class",
      threshold: null,
      classes: ["a", "b"],
      task: null,
    });
  });

  it("carries the weights' normalisation, interpolation and centre crop to the viewer", async () => {
    writeModelJson({ type: "linear", task: "multi-class", numClasses: 2 }, { imageSize: 96 });
    expect((await buildModelCard(directory, undefined)).preprocessing).toEqual({
      resize: { mode: "exact" },
      kernel: "linear",
      backend: "pillow",
      mean: [123.675, 116.28, 103.53],
      std: [58.395, 57.12, 57.375],
    });
    writeModelJson(
      { type: "linear", task: "multi-class", numClasses: 2 },
      { imageSize: 96 },
      {
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
        inputSize: 224,
        interpolation: "bicubic",
        crop: 0.9,
      },
    );
    expect((await buildModelCard(directory, undefined)).preprocessing).toEqual({
      // timm's evaluation transform at the model's 96 px: short side to floor(96 / 0.9) = 106.
      resize: {
        mode: "short-side-crop",
        convention: "torchvision",
        shortSide: 106,
        kernel: "cubic",
      },
      kernel: "cubic",
      backend: "pillow",
      mean: [127.5, 127.5, 127.5],
      std: [127.5, 127.5, 127.5],
    });
  });
});
