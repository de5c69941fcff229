import type { BackbonePreset, BackboneSpec } from "./backbone-spec";
import { densenetSpec } from "./densenet/densenet-spec";
import { swinSpec } from "./swin/swin-spec";
import { vitSpec } from "./vit/vit-spec";

/** Thrown when a backbone type is not registered; the message lists the registered types. */
export class UnknownBackboneError extends Error {
  /** The type that was asked for. */
  readonly type: string;
  /** The registered types at the time of the call. */
  readonly knownTypes: readonly string[];

  constructor(type: string, knownTypes: readonly string[], context?: string) {
    super(
      `${context ? `${context}: ` : ""}unknown backbone type ${JSON.stringify(type)}; ` +
        `registered types: ${knownTypes.length > 0 ? knownTypes.join(", ") : "(none)"}`,
    );
    this.name = "UnknownBackboneError";
    this.type = type;
    this.knownTypes = knownTypes;
  }
}

/** Thrown when a preset name is not offered by any registered backbone. */
export class UnknownPresetError extends Error {
  /** The preset name that was asked for. */
  readonly preset: string;

  constructor(preset: string, knownPresets: readonly string[]) {
    super(
      `unknown backbone preset ${JSON.stringify(preset)}; known presets: ${knownPresets.join(", ")}`,
    );
    this.name = "UnknownPresetError";
    this.preset = preset;
  }
}

// biome-ignore lint/suspicious/noExplicitAny: specs of every configuration type share the map
type AnySpec = BackboneSpec<any>;

const specs = new Map<string, AnySpec>();

/**
 * Registers an architecture. A type already registered throws (unregister it first, as tests
 * that register small architectures do), and so does a preset name another type offers.
 */
export function registerBackbone<Config extends object>(spec: BackboneSpec<Config>): void {
  if (specs.has(spec.type)) {
    throw new Error(
      `registerBackbone: type ${JSON.stringify(spec.type)} is already registered; unregisterBackbone it first`,
    );
  }
  for (const preset of spec.presets) {
    const owner = findPresetOwner(preset.name);
    if (owner !== undefined && owner.type !== spec.type) {
      throw new Error(
        `registerBackbone: preset ${JSON.stringify(preset.name)} of ${spec.type} is already offered by ${owner.type}`,
      );
    }
  }
  specs.set(spec.type, spec as AnySpec);
}

/** Removes a registered type (for tests that register a temporary architecture). */
export function unregisterBackbone(type: string): boolean {
  return specs.delete(type);
}

/**
 * The spec of a registered type. Throws {@link UnknownBackboneError} listing the registered
 * types; `context` (e.g. the file being read) prefixes the message.
 */
// biome-ignore lint/suspicious/noExplicitAny: callers narrow the configuration type
export function getBackboneSpec<Config extends object = any>(
  type: string,
  context?: string,
): BackboneSpec<Config> {
  const spec = specs.get(type);
  if (spec === undefined) throw new UnknownBackboneError(type, [...specs.keys()], context);
  return spec as BackboneSpec<Config>;
}

/** Every registered spec, in registration order. */
export function listBackbones(): AnySpec[] {
  return [...specs.values()];
}

/** Every preset name of every registered spec, in registration order. */
export function listPresetNames(): string[] {
  return listBackbones().flatMap((spec) => spec.presets.map((preset) => preset.name));
}

function findPresetOwner(name: string): AnySpec | undefined {
  for (const spec of specs.values()) {
    if (spec.presets.some((preset) => preset.name === name)) return spec;
  }
  return undefined;
}

/** A preset and the spec that offers it. */
// biome-ignore lint/suspicious/noExplicitAny: callers narrow the configuration type
export interface FoundPreset<Config extends object = any> {
  /** The architecture. */
  spec: BackboneSpec<Config>;
  /** The named configuration. */
  preset: BackbonePreset<Config>;
}

/** Finds a preset by name (e.g. `densenet121`) across registered specs; `undefined` if none. */
export function findPreset(name: string): FoundPreset | undefined {
  const spec = findPresetOwner(name);
  if (spec === undefined) return undefined;
  const preset = spec.presets.find((candidate) => candidate.name === name);
  return preset === undefined ? undefined : { spec, preset };
}

/** Like {@link findPreset} but throws {@link UnknownPresetError} listing the known presets. */
export function requirePreset(name: string): FoundPreset {
  const found = findPreset(name);
  if (found === undefined) throw new UnknownPresetError(name, listPresetNames());
  return found;
}

// Built-in architectures: one line each, run on import so every consumer sees them.
registerBackbone(densenetSpec);
registerBackbone(swinSpec);
registerBackbone(vitSpec);
