import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { NATIVE_BACKEND_MANIFEST, readNativeBackendManifest } from "@medfm/native-backend";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { registerBackendCommand } from "./backend";

const workDirectory = mkdtempSync(path.join(tmpdir(), "medfm-backend-test-"));

afterAll(() => {
  rmSync(workDirectory, { recursive: true, force: true });
});

describe("medfm backend", () => {
  it("offers install with --gpu, --dir and --tf-version, and status", () => {
    const program = new Command("medfm");
    registerBackendCommand(program);
    const backend = program.commands.find((command) => command.name() === "backend");
    const install = backend?.commands.find((command) => command.name() === "install");
    expect(install?.options.map((option) => option.long)).toEqual(
      expect.arrayContaining(["--gpu", "--dir", "--tf-version", "--python", "--tfjs"]),
    );
    expect(backend?.commands.map((command) => command.name())).toEqual(["install", "status"]);
  });

  it("status reads the manifest a provisioning wrote, and says when there is none", async () => {
    const directory = path.join(workDirectory, "native");
    expect(readNativeBackendManifest(directory)).toBeUndefined();
    const manifest = { packagePath: "/somewhere/tfjs-node", tensorflowVersion: "2.18.1" };
    rmSync(directory, { recursive: true, force: true });
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, NATIVE_BACKEND_MANIFEST), JSON.stringify(manifest));
    expect(readNativeBackendManifest(directory)).toEqual(manifest);

    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      const program = new Command("medfm");
      registerBackendCommand(program);
      await program.parseAsync(["backend", "status", "--dir", directory], { from: "user" });
      await program.parseAsync(["backend", "status", "--dir", `${directory}-none`], {
        from: "user",
      });
    } finally {
      process.stdout.write = write;
    }
    expect(JSON.parse(written[0])).toEqual(manifest);
    expect(written[1]).toMatch(/no native backend in .*native-none; run: medfm backend install/);
  });
});
