import type { BackboneSpec, HubModelConfig } from "../backbones/backbone-spec";
import { listBackbones } from "../backbones/registry";
import {
  HubError,
  HubFormatError,
  type HubLocation,
  UnsupportedArchitectureError,
} from "./hub-errors";
import { CONFIG_NAME } from "./pull-snapshot";

export type { BackboneHubSupport, HubModelConfig } from "../backbones/backbone-spec";

/** The registered architecture a hub checkpoint builds, with the configuration it describes. */
// biome-ignore lint/suspicious/noExplicitAny: the configuration type is the spec's own
export interface HubArchitecture<Config extends object = any> {
  /** The spec whose {@link BackboneSpec.hub} accepted the config. */
  spec: BackboneSpec<Config>;
  /** The configuration its `configFromHub` returned, as the spec's `create` takes it. */
  config: Config;
}

/** The checkpoint family names of a `config.json`: timm's `architecture`, transformers' `model_type`. */
export function hubArchitectureNames(config: Record<string, unknown>): {
  architecture?: string;
  modelType?: string;
} {
  return {
    ...(typeof config.architecture === "string" ? { architecture: config.architecture } : {}),
    ...(typeof config.model_type === "string" ? { modelType: config.model_type } : {}),
  };
}

/**
 * Finds the registered backbone that builds a hub checkpoint: asks each spec's
 * `hub.configFromHub` in registration order and returns the first that accepts the config, so
 * each architecture's folder says which timm architectures and transformers model types it
 * reads and nothing here names one.
 * @param specs the candidates; default every registered spec ({@link listBackbones}).
 * @throws UnsupportedArchitectureError naming the repository, its architecture or model type
 *   and what the registered specs accept; HubFormatError when a spec rejects a value of a
 *   config it recognised (its message says which).
 */
export function detectHubArchitecture(
  hubConfig: HubModelConfig,
  location: Omit<HubLocation, "filename">,
  // biome-ignore lint/suspicious/noExplicitAny: specs of every configuration type
  specs: readonly BackboneSpec<any>[] = listBackbones(),
): HubArchitecture {
  const configLocation = { ...location, filename: CONFIG_NAME };
  const supported: string[] = [];
  for (const spec of specs) {
    if (spec.hub === undefined) continue;
    supported.push(...spec.hub.accepts.map((entry) => `${entry} (${spec.type})`));
    let config: object | undefined;
    try {
      config = spec.hub.configFromHub(hubConfig);
    } catch (error) {
      if (HubError.isInstance(error)) throw error;
      const failure = new HubFormatError(
        configLocation,
        `${spec.type}: ${(error as Error).message ?? String(error)}`,
      );
      failure.cause = error;
      throw failure;
    }
    if (config !== undefined) return { spec, config };
  }
  throw new UnsupportedArchitectureError(
    configLocation,
    hubArchitectureNames(hubConfig.config),
    supported,
  );
}
