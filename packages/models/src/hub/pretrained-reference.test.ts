import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolvePretrainedReference } from "./pretrained-reference";

const nothingExists = { exists: () => false };

describe("resolvePretrainedReference", () => {
  it("reads hf: and hf:// references as the hub, with or without a revision", () => {
    expect(resolvePretrainedReference("hf:microsoft/rad-dino", nothingExists)).toEqual({
      kind: "hub",
      repo: "microsoft/rad-dino",
      revision: "main",
      explicitRevision: false,
    });
    expect(
      resolvePretrainedReference(
        "hf://timm/vit_small_patch16_224.augreg_in21k@v1.0",
        nothingExists,
      ),
    ).toEqual({
      kind: "hub",
      repo: "timm/vit_small_patch16_224.augreg_in21k",
      revision: "v1.0",
      explicitRevision: true,
    });
    expect(resolvePretrainedReference("hf:gpt2", nothingExists)).toMatchObject({ repo: "gpt2" });
    expect(resolvePretrainedReference("hf:org/name@refs/pr/1", nothingExists)).toMatchObject({
      revision: "refs/pr/1",
    });
  });

  it("reads org/name[@revision] as the hub when no such path exists", () => {
    expect(resolvePretrainedReference("owkin/phikon-v2@main", nothingExists)).toEqual({
      kind: "hub",
      repo: "owkin/phikon-v2",
      revision: "main",
      explicitRevision: true,
    });
  });

  it("reads files, absolute and relative paths, and bare names as paths", () => {
    for (const value of [
      "weights/densenet121.safetensors",
      "runs/model.json",
      "/models/rad-dino",
      "./org/name",
      "../org/name",
      "~/models/x",
      "model-dir",
      "a/b/c",
    ]) {
      expect(resolvePretrainedReference(value, nothingExists), value).toEqual({
        kind: "path",
        path: value,
      });
    }
  });

  it("prefers an existing folder named like a repository, as transformers does", () => {
    const root = mkdtempSync(join(tmpdir(), "medfm-reference-"));
    mkdirSync(join(root, "org", "name"), { recursive: true });
    const previous = process.cwd();
    process.chdir(root);
    try {
      expect(resolvePretrainedReference("org/name")).toEqual({ kind: "path", path: "org/name" });
      expect(resolvePretrainedReference("org/other")).toMatchObject({
        kind: "hub",
        repo: "org/other",
      });
    } finally {
      process.chdir(previous);
    }
  });

  it("rejects an hf: reference that is no valid repository id or revision, naming it", () => {
    expect(() => resolvePretrainedReference("hf:org/na--me")).toThrow(
      'invalid hub reference "hf:org/na--me": invalid repository id "org/na--me"',
    );
    expect(() => resolvePretrainedReference("hf:org/name@")).toThrow(
      'invalid hub reference "hf:org/name@": expected [hf:]org/name[@revision]',
    );
    expect(() => resolvePretrainedReference("hf:org/name@../x")).toThrow("invalid revision");
  });
});
