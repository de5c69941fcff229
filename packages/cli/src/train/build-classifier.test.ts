import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createBackbone,
  createClassifier,
  linearHead,
  saveClassifier,
  selectBackend,
} from "@medfm/models";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildClassifier } from "./build-classifier";

const folder = mkdtempSync(join(tmpdir(), "medfm-build-classifier-"));
const head = () => linearHead({ numClasses: 2, kind: "multi-class", seed: 0 });

beforeAll(async () => {
  await selectBackend({ backend: "cpu", log: () => {} });
  const saved = createClassifier({ backbone: createBackbone("densenet-tiny"), head: head() });
  await saveClassifier(saved, folder);
  saved.dispose();
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe("buildClassifier with --backbone and --weights", () => {
  it("accepts weights of the named preset and names every setting that differs from another", async () => {
    const build = (backbone: string) =>
      buildClassifier({ backbone, head: head(), weights: folder, checkBackbone: true, seed: 0 });
    const classifier = await build("densenet-tiny");
    expect(classifier.backbone.metadata().type).toBe("densenet");
    classifier.dispose();
    await expect(build("densenet121")).rejects.toThrow(
      `--weights ${folder} is not a densenet121: growthRate 12, not 32; blockConfig [2,2,2,2], not [6,12,24,16]; numInitFeatures 16, not 64 (drop --backbone to use the weights' own architecture)`,
    );
    await expect(build("vit-small-patch16")).rejects.toThrow(
      "is not a vit-small-patch16: type densenet, not vit",
    );
    // Without the check, the weights alone decide.
    const unchecked = await buildClassifier({
      backbone: "vit-small-patch16",
      head: head(),
      weights: folder,
      seed: 0,
    });
    expect(unchecked.backbone.metadata().type).toBe("densenet");
    unchecked.dispose();
  });
});
