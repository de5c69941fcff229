import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import { validateRelativePath, validateRepoId } from "./hub-endpoint";

/** Where pretrained weights come from: a Hugging Face hub repository or a local path. */
export type PretrainedReference =
  | {
      /** A repository on the hub (`org/name`, `org/name@revision`, `hf:…`). */
      kind: "hub";
      /** Repository id, `org/name`. */
      repo: string;
      /** Branch, tag or commit after `@`; `main` when none was given. */
      revision: string;
      /** Whether the value named the revision (`@…`). */
      explicitRevision: boolean;
    }
  | {
      /** A file or folder on disk. */
      kind: "path";
      /** The path as given. */
      path: string;
    };

/** Options of {@link resolvePretrainedReference}. */
export interface ResolvePretrainedReferenceOptions {
  /** Tells whether a path exists (default `fs.existsSync`); tests pass a fake. */
  exists?: (path: string) => boolean;
}

/** Weight and configuration files that are never repository ids, even when shaped `a/b.ext`. */
const FILE_EXTENSION = /\.(safetensors|json|bin|pt|pth|ckpt|h5|onnx|msgpack)$/i;
/** `org/name` with an optional `@revision`, before validation. */
const REPO_SHAPE = /^[\w.-]+\/[\w.-]+(@.+)?$/;

function parseHub(value: string, original: string): PretrainedReference {
  const at = value.indexOf("@");
  const repo = at === -1 ? value : value.slice(0, at);
  const revision = at === -1 ? "main" : value.slice(at + 1);
  if (repo.length === 0 || (at !== -1 && revision.length === 0)) {
    throw new Error(
      `invalid hub reference ${JSON.stringify(original)}: expected [hf:]org/name[@revision], e.g. hf:timm/vit_small_patch16_224.augreg_in21k@main`,
    );
  }
  try {
    validateRepoId(repo);
    validateRelativePath("revision", revision);
  } catch (error) {
    throw new Error(
      `invalid hub reference ${JSON.stringify(original)}: ${(error as Error).message}`,
    );
  }
  return { kind: "hub", repo, revision, explicitRevision: at !== -1 };
}

/**
 * Tells a Hugging Face hub reference from a local path, as a `--weights` option takes either:
 * `hf:org/name[@revision]` (or `hf://…`) is always the hub; a path that exists, is absolute,
 * starts with `.` or `~`, or ends in a weights or config extension (`.safetensors`, `.json`,
 * `.bin`, …) is a path; otherwise `org/name[@revision]` is the hub, as transformers'
 * `from_pretrained` prefers a local folder of the same name. Bare names (`gpt2`) are paths;
 * write `hf:gpt2` for the hub.
 * @throws Error naming the value when it says `hf:` but is no valid repository id or revision.
 */
export function resolvePretrainedReference(
  value: string,
  options: ResolvePretrainedReferenceOptions = {},
): PretrainedReference {
  const exists = options.exists ?? existsSync;
  const prefixed = /^hf:(\/\/)?/.exec(value);
  if (prefixed !== null) return parseHub(value.slice(prefixed[0].length), value);
  if (
    exists(value) ||
    isAbsolute(value) ||
    value.startsWith(".") ||
    value.startsWith("~") ||
    value.includes("\\") ||
    FILE_EXTENSION.test(value.split("@")[0] as string) ||
    !REPO_SHAPE.test(value)
  ) {
    return { kind: "path", path: value };
  }
  return parseHub(value, value);
}
