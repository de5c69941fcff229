import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  type BackboneSpec,
  type HubModelConfig,
  IMAGENET_PREPROCESSING,
} from "../backbones/backbone-spec";
import { registerBackbone, unregisterBackbone } from "../backbones/registry";
import { swinSpec } from "../backbones/swin/swin-spec";
import { detectHubArchitecture, hubArchitectureNames } from "./hub-architecture";
import { HubFormatError, UnsupportedArchitectureError } from "./hub-errors";

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(
    readFileSync(fileURLToPath(new URL(`./__fixtures__/${name}`, import.meta.url)), "utf8"),
  );

interface WindowedConfig {
  embedDim: number;
  windowSize: number;
}

const SWIN_WIDTHS: Record<string, number> = { tiny: 96, small: 96, base: 128 };

/** A spec that reads timm's swin_* names, as a real one would, and builds nothing. */
function windowedSpec(type: string): BackboneSpec<WindowedConfig> {
  return {
    type,
    presets: [],
    create: () => {
      throw new Error("not built in these tests");
    },
    weights: {
      normaliseKey: (key) => key,
      toNative: (_key, values, shape) => ({ values, shape: [...shape] }),
      inferConfig: () => ({ embedDim: 0, windowSize: 0 }),
      headPrefix: "head.fc.",
    },
    preprocessing: IMAGENET_PREPROCESSING,
    hub: {
      accepts: ["timm swin_{tiny,small,base}_patch4_window{7,12}_*"],
      configFromHub: ({ config }) => {
        const match = /^swin_(\w+?)_patch4_window(\d+)_/.exec(String(config.architecture));
        if (match === null) return undefined;
        const embedDim = SWIN_WIDTHS[match[1] as string];
        if (embedDim === undefined) throw new Error(`unknown Swin size ${match[1]}`);
        return { embedDim, windowSize: Number(match[2]) };
      },
    },
  };
}

/** A spec that reads transformers' dinov2 configs (model_type, hidden_size). */
const tokenSpec: BackboneSpec<{ width: number }> = {
  ...(windowedSpec("unused") as unknown as BackboneSpec<{ width: number }>),
  type: "test-tokens",
  hub: {
    accepts: ["transformers dinov2"],
    configFromHub: ({ config }) =>
      config.model_type === "dinov2" ? { width: Number(config.hidden_size) } : undefined,
  },
};

const location = { repo: "org/model", revision: "main" };
const hubConfig = (config: Record<string, unknown>): HubModelConfig => ({
  repo: "org/model",
  config,
});

afterEach(() => {
  unregisterBackbone("test-windowed");
});

describe("detectHubArchitecture", () => {
  it("asks each spec in turn and returns the first that reads the timm config", () => {
    const swin = windowedSpec("test-windowed");
    const found = detectHubArchitecture(
      hubConfig(fixture("timm-swin_tiny_patch4_window7_224.config.json")),
      location,
      [{ ...swin, type: "no-hub", hub: undefined }, tokenSpec, swin],
    );
    expect(found.spec).toBe(swin);
    expect(found.config).toEqual({ embedDim: 96, windowSize: 7 });
  });

  it("reads a transformers config by model_type", () => {
    const found = detectHubArchitecture(
      hubConfig({ model_type: "dinov2", hidden_size: 384, patch_size: 14 }),
      location,
      [windowedSpec("test-windowed"), tokenSpec],
    );
    expect(found.spec.type).toBe("test-tokens");
    expect(found.config).toEqual({ width: 384 });
  });

  it("asks the registered specs by default", () => {
    // The built-in Swin reads these names too: set it aside so the test spec answers.
    unregisterBackbone(swinSpec.type);
    registerBackbone(windowedSpec("test-windowed"));
    try {
      const found = detectHubArchitecture(
        hubConfig({ architecture: "swin_base_patch4_window12_384" }),
        location,
      );
      expect(found.spec.type).toBe("test-windowed");
      expect(found.config).toEqual({ embedDim: 128, windowSize: 12 });
    } finally {
      registerBackbone(swinSpec);
    }
  });

  it("names the repository, its architecture and what the registered specs accept", () => {
    const attempt = () =>
      detectHubArchitecture(
        hubConfig(fixture("timm-vit_small_patch16_224.config.json")),
        location,
        [windowedSpec("test-windowed"), tokenSpec],
      );
    expect(attempt).toThrow(UnsupportedArchitectureError);
    expect(attempt).toThrow(
      'org/model@main file config.json: timm architecture "vit_small_patch16_224" is not supported by any registered backbone; supported: timm swin_{tiny,small,base}_patch4_window{7,12}_* (test-windowed); transformers dinov2 (test-tokens)',
    );
    try {
      attempt();
    } catch (error) {
      expect((error as UnsupportedArchitectureError).architecture).toBe("vit_small_patch16_224");
      expect((error as UnsupportedArchitectureError).repo).toBe("org/model");
    }
  });

  it("names a transformers model_type nobody reads, and a config with neither name", () => {
    expect(() =>
      detectHubArchitecture(hubConfig({ model_type: "clip_vision_model" }), location, [tokenSpec]),
    ).toThrow('transformers model_type "clip_vision_model" is not supported');
    expect(() => detectHubArchitecture(hubConfig({ hidden_size: 3 }), location, [])).toThrow(
      "neither an architecture (timm) nor a model_type (transformers) is not supported by any registered backbone; supported: (no registered backbone reads hub configs)",
    );
  });

  it("turns a spec's complaint about a config it recognised into a HubFormatError naming config.json", () => {
    const attempt = () =>
      detectHubArchitecture(hubConfig({ architecture: "swin_huge_patch4_window7_224" }), location, [
        windowedSpec("test-windowed"),
      ]);
    expect(attempt).toThrow(HubFormatError);
    expect(attempt).toThrow(
      "org/model@main file config.json: test-windowed: unknown Swin size huge",
    );
  });
});

describe("hubArchitectureNames", () => {
  it("reads timm's architecture and transformers' model_type, ignoring other types", () => {
    expect(hubArchitectureNames({ architecture: "densenet121", model_type: 3 })).toEqual({
      architecture: "densenet121",
    });
    expect(hubArchitectureNames({ model_type: "vit" })).toEqual({ modelType: "vit" });
  });
});
