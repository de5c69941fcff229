import { afterEach, describe, expect, it } from "vitest";
import { type BackboneSpec, IMAGENET_PREPROCESSING } from "./backbone-spec";
import {
  findPreset,
  getBackboneSpec,
  listBackbones,
  listPresetNames,
  registerBackbone,
  requirePreset,
  UnknownBackboneError,
  UnknownPresetError,
  unregisterBackbone,
} from "./registry";

function fakeSpec(type: string, presets: string[]): BackboneSpec<{ width: number }> {
  return {
    type,
    presets: presets.map((name, index) => ({
      name,
      description: `${name} preset`,
      config: { width: index + 1 },
    })),
    create: () => {
      throw new Error("not built in this test");
    },
    weights: {
      normaliseKey: (key) => key,
      toNative: (_key, values, shape) => ({ values, shape: [...shape] }),
      inferConfig: () => ({ width: 1 }),
      headPrefix: "head.",
    },
    preprocessing: IMAGENET_PREPROCESSING,
  };
}

afterEach(() => {
  unregisterBackbone("fake");
  unregisterBackbone("other");
});

describe("backbone registry", () => {
  it("has DenseNet built in, with the presets the CLI offers", () => {
    expect(listBackbones().map((spec) => spec.type)).toContain("densenet");
    expect(listPresetNames()).toEqual(
      expect.arrayContaining(["densenet121", "densenet169", "densenet201", "densenet-tiny"]),
    );
    const spec = getBackboneSpec("densenet");
    expect(spec.weights.headPrefix).toBe("classifier.");
    expect(spec.preprocessing.mean).toEqual([0.485, 0.456, 0.406]);
    expect(findPreset("densenet169")?.preset.config).toMatchObject({
      blockConfig: [6, 12, 32, 32],
    });
  });

  it("registers and unregisters a type and its presets", () => {
    registerBackbone(fakeSpec("fake", ["fake-a", "fake-b"]));
    expect(getBackboneSpec("fake").type).toBe("fake");
    expect(listPresetNames()).toEqual(expect.arrayContaining(["fake-a", "fake-b"]));
    expect(requirePreset("fake-b").preset.config).toEqual({ width: 2 });
    expect(requirePreset("fake-b").spec.type).toBe("fake");
    expect(unregisterBackbone("fake")).toBe(true);
    expect(unregisterBackbone("fake")).toBe(false);
    expect(listPresetNames()).not.toContain("fake-a");
    expect(findPreset("fake-a")).toBeUndefined();
  });

  it("refuses a preset name another type already offers", () => {
    registerBackbone(fakeSpec("fake", ["fake-a"]));
    expect(() => registerBackbone(fakeSpec("other", ["fake-a"]))).toThrow(
      'registerBackbone: preset "fake-a" of other is already offered by fake',
    );
    expect(() => registerBackbone(fakeSpec("other", ["densenet121"]))).toThrow(
      /already offered by densenet/,
    );
    expect(listBackbones().map((spec) => spec.type)).not.toContain("other");
  });

  it("names the context and every registered type for an unknown type", () => {
    registerBackbone(fakeSpec("fake", ["fake-a"]));
    let caught: unknown;
    try {
      getBackboneSpec("resnet", "/models/x/model.json");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnknownBackboneError);
    const error = caught as UnknownBackboneError;
    expect(error.message).toBe(
      '/models/x/model.json: unknown backbone type "resnet"; registered types: densenet, swin, vit, fake',
    );
    expect(error.knownTypes).toEqual(["densenet", "swin", "vit", "fake"]);
  });

  it("lists the known presets for an unknown preset", () => {
    expect(() => requirePreset("vit-huge")).toThrow(UnknownPresetError);
    expect(() => requirePreset("vit-huge")).toThrow(/known presets: densenet121, densenet169/);
    expect(findPreset("vit-huge")).toBeUndefined();
  });

  it("refuses a type registered twice and keeps the first spec", () => {
    registerBackbone(fakeSpec("fake", ["fake-a"]));
    expect(() => registerBackbone(fakeSpec("fake", ["fake-a", "fake-c"]))).toThrow(
      'registerBackbone: type "fake" is already registered',
    );
    expect(() => registerBackbone(fakeSpec("densenet", ["other-preset"]))).toThrow(
      /type "densenet" is already registered/,
    );
    expect(listBackbones().filter((spec) => spec.type === "fake")).toHaveLength(1);
    expect(listPresetNames()).not.toContain("fake-c");
  });
});
