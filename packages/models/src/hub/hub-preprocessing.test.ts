import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HubFormatError } from "./hub-errors";
import {
  preprocessingFromImageProcessor,
  preprocessingFromPretrainedCfg,
  readHubConfig,
} from "./hub-preprocessing";

// Written by scripts/fixtures/models/make-hub-configs.py from timm's registry and transformers' processors.
const fixtures = fileURLToPath(new URL("./__fixtures__/", import.meta.url));
const fixture = (name: string) => JSON.parse(readFileSync(join(fixtures, name), "utf8"));
const location = { repo: "org/model", revision: "main", filename: "config.json" };

describe("preprocessingFromPretrainedCfg", () => {
  it("reads timm's pretrained_cfg of ViT-S/16 augreg in21k and Swin-T", () => {
    const vit = fixture("timm-vit_small_patch16_224.config.json");
    expect(preprocessingFromPretrainedCfg(vit.pretrained_cfg, location)).toEqual({
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      inputSize: 224,
      interpolation: "bicubic",
      crop: 0.9,
      cropMode: "center",
      cropConvention: "torchvision",
    });
    const swin = fixture("timm-swin_tiny_patch4_window7_224.config.json");
    const preprocessing = preprocessingFromPretrainedCfg(swin.pretrained_cfg, location);
    expect(preprocessing.mean).toEqual(swin.pretrained_cfg.mean);
    expect(preprocessing.std).toEqual(swin.pretrained_cfg.std);
    expect(preprocessing.crop).toBe(swin.pretrained_cfg.crop_pct);
  });

  it("uses timm's default crop_pct 0.875 when absent and names bad values", () => {
    const cfg = {
      input_size: [3, 256, 256],
      mean: [0, 0, 0],
      std: [1, 1, 1],
      interpolation: "bilinear",
    };
    expect(preprocessingFromPretrainedCfg(cfg, location)).toMatchObject({
      inputSize: 256,
      crop: 0.875,
    });
    expect(() =>
      preprocessingFromPretrainedCfg({ ...cfg, interpolation: "lanczos" }, location),
    ).toThrow(/org\/model@main file config\.json: pretrained_cfg\.interpolation is "lanczos"/);
    expect(() =>
      preprocessingFromPretrainedCfg({ ...cfg, input_size: [3, 224, 256] }, location),
    ).toThrow(HubFormatError);
    expect(() => preprocessingFromPretrainedCfg({ ...cfg, mean: [0.5] }, location)).toThrow(
      /pretrained_cfg\.mean is \[0\.5\]/,
    );
  });

  it("reads crop_mode: center by default, squash kept, border (padding) refused", () => {
    const cfg = {
      input_size: [3, 224, 224],
      mean: [0, 0, 0],
      std: [1, 1, 1],
      crop_pct: 1.0,
    };
    expect(preprocessingFromPretrainedCfg(cfg, location)).toMatchObject({
      crop: 1,
      cropMode: "center",
    });
    expect(preprocessingFromPretrainedCfg({ ...cfg, crop_mode: "squash" }, location)).toMatchObject(
      { cropMode: "squash" },
    );
    expect(() => preprocessingFromPretrainedCfg({ ...cfg, crop_mode: "border" }, location)).toThrow(
      /pretrained_cfg\.crop_mode is "border"; supported: center, squash/,
    );
    expect(() => preprocessingFromPretrainedCfg({ ...cfg, crop_pct: 1.15 }, location)).toThrow(
      /pretrained_cfg\.crop_pct is 1\.15; above 1/,
    );
  });
});

describe("preprocessingFromImageProcessor", () => {
  it("maps a resize of the short side plus centre crop to timm's crop fraction (DINOv2)", () => {
    const processor = fixture("transformers-dinov2-small.preprocessor_config.json");
    expect(preprocessingFromImageProcessor(processor, location)).toEqual({
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      inputSize: 224,
      interpolation: "bicubic",
      crop: 224 / 256,
      cropMode: "center",
      cropConvention: "transformers",
    });
  });

  it("keeps the aspect ratio of RAD-DINO's equal resize and crop, squashes DeiT's before its crop", () => {
    const radDino = fixture("transformers-rad-dino.preprocessor_config.json");
    expect(preprocessingFromImageProcessor(radDino, location)).toMatchObject({
      inputSize: 518,
      crop: 1,
      cropMode: "center",
      cropConvention: "transformers",
    });
    const deit = fixture("transformers-deit-base-distilled-patch16-224.preprocessor_config.json");
    const preprocessing = preprocessingFromImageProcessor(deit, location);
    expect(preprocessing).toMatchObject({
      inputSize: 224,
      interpolation: "bicubic",
      cropMode: "squash",
      cropConvention: "transformers",
    });
    // The loader resizes to floor(inputSize / crop): the processor's 256 exactly.
    expect(Math.floor(224 / preprocessing.crop)).toBe(256);
    expect(() =>
      preprocessingFromImageProcessor(
        { ...deit, crop_size: { height: 300, width: 300 } },
        location,
      ),
    ).toThrow(/crop_size 300 is larger than the resized 256/);
  });

  it("reads ViT's square resize without crop and CLIP's resize-and-crop of equal sides", () => {
    const vit = fixture("transformers-vit-base-patch16-224-in21k.preprocessor_config.json");
    expect(preprocessingFromImageProcessor(vit, location)).toEqual({
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      inputSize: 224,
      interpolation: "bilinear",
      crop: 1,
      cropMode: "squash",
      cropConvention: "transformers",
    });
    const clip = fixture("transformers-clip-vit-base-patch16.preprocessor_config.json");
    expect(preprocessingFromImageProcessor(clip, location)).toMatchObject({
      mean: clip.image_mean,
      std: clip.image_std,
      inputSize: 224,
      crop: 1,
      cropMode: "center",
    });
  });

  it("names a resample filter the pipeline lacks", () => {
    const vit = fixture("transformers-vit-base-patch16-224-in21k.preprocessor_config.json");
    expect(() => preprocessingFromImageProcessor({ ...vit, resample: 1 }, location)).toThrow(
      /resample is 1 \(lanczos\)/,
    );
  });
});

describe("readHubConfig", () => {
  it("prefers timm's pretrained_cfg and keeps the processor config it found", async () => {
    const folder = mkdtempSync(join(tmpdir(), "medfm-hub-config-"));
    writeFileSync(
      join(folder, "config.json"),
      readFileSync(join(fixtures, "timm-vit_small_patch16_224.config.json")),
    );
    writeFileSync(
      join(folder, "preprocessor_config.json"),
      readFileSync(join(fixtures, "transformers-dinov2-small.preprocessor_config.json")),
    );
    const snapshot = {
      repo: "org/model",
      revision: "main",
      commit: "c",
      snapshotDir: folder,
      files: new Map(),
    };
    const config = await readHubConfig(snapshot);
    expect(config.preprocessingSource).toBe("pretrained_cfg");
    expect(config.preprocessing?.crop).toBe(0.9);
    expect(config.preprocessorConfig?.image_processor_type).toBe("BitImageProcessor");
    expect(config.pretrainedCfg?.tag).toBe("augreg_in21k");
  });

  it("names the file when config.json is not JSON", async () => {
    const folder = mkdtempSync(join(tmpdir(), "medfm-hub-config-"));
    writeFileSync(join(folder, "config.json"), "{ nope");
    const snapshot = {
      repo: "org/model",
      revision: "main",
      commit: "c",
      snapshotDir: folder,
      files: new Map(),
    };
    await expect(readHubConfig(snapshot)).rejects.toThrow(
      /org\/model@main file config\.json: .*config\.json: not valid JSON/,
    );
  });
});
