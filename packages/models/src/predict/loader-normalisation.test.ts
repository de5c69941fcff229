import { describe, expect, it } from "vitest";
import { IMAGENET_PREPROCESSING } from "../backbones/backbone-spec";
import {
  loaderNormalisation,
  loaderPreprocessing,
  loaderResize,
  withModelPreprocessing,
} from "./loader-normalisation";

const vit = {
  mean: [0.5, 0.5, 0.5] as const,
  std: [0.5, 0.5, 0.5] as const,
  inputSize: 224,
  interpolation: "bicubic" as const,
  crop: 0.9,
};

describe("loaderNormalisation and loaderResize", () => {
  it("leave ImageNet's bilinear stretch to the loader's defaults", () => {
    expect(loaderNormalisation(IMAGENET_PREPROCESSING)).toBeUndefined();
    expect(loaderResize(IMAGENET_PREPROCESSING)).toBeUndefined();
    expect(loaderResize(undefined, 224)).toBeUndefined();
  });

  it("follow timm's evaluation transform: short side to floor(size / crop_pct), centre crop", () => {
    expect(loaderNormalisation(vit)).toEqual({
      mean: [127.5, 127.5, 127.5],
      std: [127.5, 127.5, 127.5],
    });
    expect(loaderResize(vit)).toEqual({
      mode: "short-side-crop",
      convention: "torchvision",
      shortSide: 248,
      kernel: "cubic",
    });
    // At another input size the crop fraction holds: 64 / 0.9 = 71.1.
    expect(loaderResize(vit, 64)).toMatchObject({ shortSide: 71 });
    expect(loaderResize({ ...vit, crop: 0.875, interpolation: "bilinear" }, [32, 32])).toEqual({
      mode: "short-side-crop",
      convention: "torchvision",
      shortSide: 36,
      kernel: "linear",
    });
  });

  it("stretch at crop 1 without a crop mode (older model.json) or a non-square input", () => {
    expect(loaderResize({ ...vit, crop: 1 })).toEqual({ mode: "exact", kernel: "cubic" });
    expect(loaderResize(vit, [32, 48])).toEqual({ mode: "exact", kernel: "cubic" });
    expect(loaderResize({ ...vit, cropMode: "center" }, [32, 48])).toEqual({
      mode: "exact",
      kernel: "cubic",
    });
    expect(loaderResize({ ...vit, interpolation: "bilinear" }, [32, 48])).toBeUndefined();
  });

  it("keep the aspect ratio at crop 1 in center mode and squash before the crop in squash mode", () => {
    // timm's DINOv2 (crop_pct 1, crop_mode center) and transformers' CLIP / RAD-DINO processors.
    expect(loaderResize({ ...vit, crop: 1, cropMode: "center" })).toEqual({
      mode: "short-side-crop",
      convention: "torchvision",
      shortSide: 224,
      kernel: "cubic",
    });
    expect(
      loaderResize({ ...vit, crop: 1, cropMode: "center", cropConvention: "transformers" }, 518),
    ).toMatchObject({ convention: "transformers", shortSide: 518 });
    // DeiT's processor: squashed to 256, centre 224.
    expect(loaderResize({ ...vit, crop: 224 / 256, cropMode: "squash" })).toEqual({
      mode: "squash-crop",
      convention: "torchvision",
      shortSide: 256,
      kernel: "cubic",
    });
    expect(loaderResize({ ...vit, crop: 1, cropMode: "squash" })).toEqual({
      mode: "exact",
      kernel: "cubic",
    });
  });

  it("refuses a crop outside (0, 1] and a mode or convention it does not know, naming the value", () => {
    expect(() => loaderResize({ ...vit, crop: 1.2 })).toThrow("crop must be in (0, 1], got 1.2");
    expect(() => loaderResize({ ...vit, crop: 0 })).toThrow("got 0");
    const edited = { ...vit, cropMode: "border" } as unknown as typeof vit;
    expect(() => loaderResize(edited)).toThrow(
      'cropMode must be "center" or "squash", got "border"',
    );
    const rounding = { ...vit, cropConvention: "mmcls" } as unknown as typeof vit;
    expect(() => loaderResize(rounding)).toThrow('got "mmcls"');
  });

  it("loaderPreprocessing gives both, withModelPreprocessing fills only what the caller left out", () => {
    expect(loaderPreprocessing(IMAGENET_PREPROCESSING, 224)).toEqual({});
    expect(loaderPreprocessing(vit, 64)).toEqual({
      mean: [127.5, 127.5, 127.5],
      std: [127.5, 127.5, 127.5],
      resize: {
        mode: "short-side-crop",
        convention: "torchvision",
        shortSide: 71,
        kernel: "cubic",
      },
    });
    expect(withModelPreprocessing({ imageSize: 64, channels: 1 }, vit)).toEqual({
      imageSize: 64,
      channels: 1,
      ...loaderPreprocessing(vit, 64),
    });
    const named = { imageSize: 64, resize: { mode: "exact" as const }, mean: [1, 2, 3] };
    expect(withModelPreprocessing(named, vit)).toEqual({ ...named, std: [127.5, 127.5, 127.5] });
    expect(withModelPreprocessing({ imageSize: 32 }, undefined)).toEqual({
      imageSize: 32,
      resize: undefined,
      mean: undefined,
      std: undefined,
    });
  });
});
