import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createLoader, readPixels } from "@medfm/data";
import { describe, expect, it } from "vitest";
import type { BackbonePreprocessing } from "../backbones/backbone-spec";
import {
  preprocessingFromImageProcessor,
  preprocessingFromPretrainedCfg,
} from "../hub/hub-preprocessing";
import { loaderPreprocessing, loaderResize } from "./loader-normalisation";

// The end-to-end path of a hub checkpoint's preprocessing: timm's pretrained_cfg or transformers'
// preprocessor_config.json, parsed as fromPretrained parses them, turned into the loader's resize
// by loaderResize, must give the reference's pixels. The references (timm's create_transform,
// transformers' image processors) and the configs they were built from are @medfm/data's
// fixtures, written by scripts/fixtures/images/make-timm-eval-fixtures.py; paths are relative
// to packages/data/src.
const dataRoot = new URL("../../../data/src/", import.meta.url).pathname;
interface Case {
  input: string;
  reference: "timm" | "transformers";
  config: Record<string, unknown>;
  resize: { mode: string; kernel: string };
  output: string;
}
const manifest = JSON.parse(
  readFileSync(join(dataRoot, "images/__fixtures__/timm-eval/manifest.json"), "utf8"),
) as { cases: Case[] };

function parse(entry: Case): BackbonePreprocessing {
  const location = { repo: "fixture", revision: "main", filename: entry.output };
  return entry.reference === "timm"
    ? preprocessingFromPretrainedCfg(entry.config, location)
    : preprocessingFromImageProcessor(entry.config, location);
}

describe("a checkpoint's recorded preprocessing reaches the reference's pixels", () => {
  it.each(manifest.cases.map((entry) => [entry.reference, entry.output, entry] as const))(
    "%s config of %s: loaderResize names its steps and the loader gives its pixels",
    async (_reference, _output, entry) => {
      const preprocessing = parse(entry);
      const resize = loaderResize(preprocessing);
      // A bilinear stretch is the loader's default, left out so DenseNet's cache keys hold.
      const bilinearStretch = entry.resize.mode === "exact" && entry.resize.kernel === "linear";
      if (bilinearStretch) expect(resize).toBeUndefined();
      else expect(resize).toEqual(entry.resize);

      const { data, width, channels } = await readPixels(join(dataRoot, entry.output), {
        channels: 3,
      });
      expect([width, channels]).toEqual([preprocessing.inputSize, 3]);
      const loader = createLoader({
        samples: [{ name: entry.input, labels: new Uint8Array([1]) }],
        dataRoot,
        imageSize: preprocessing.inputSize,
        batchSize: 1,
        ...loaderPreprocessing(preprocessing),
      });
      let batches = 0;
      for await (const batch of loader.epoch(0)) {
        batches += 1;
        expect(batch.images.length).toBe(data.length);
        // The configs record mean 0 and std 1: the loader's floats are the reference's bytes
        // over 255, so a pixel a step off shows as 1 / 255.
        let worst = 0;
        for (let index = 0; index < data.length; index += 1) {
          worst = Math.max(worst, Math.abs(batch.images[index] * 255 - (data[index] ?? 0)));
        }
        expect(worst).toBeLessThan(1e-3);
      }
      expect(batches).toBe(1);
    },
  );
});
