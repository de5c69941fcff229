import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeSafetensors } from "../weights/safetensors";
import { loadVisualPrompt, saveVisualPrompt, visualPrompt } from "./visual-prompt";

let root: string;

beforeAll(async () => {
  await tf.setBackend("cpu");
  root = await mkdtemp(join(tmpdir(), "medfm-prompt-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("visualPrompt", () => {
  it("adds a frame of width p and leaves the inside unchanged", () => {
    const prompt = visualPrompt({ imageSize: [10, 12], padding: 2, initStd: 1, seed: 3 });
    const images = tf.randomNormal([2, 10, 12, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    const prompted = prompt.apply(images);
    const difference = tf.sub(prompted, images).arraySync() as number[][][][];
    for (let y = 0; y < 10; y += 1) {
      for (let x = 0; x < 12; x += 1) {
        const inFrame = y < 2 || y >= 8 || x < 2 || x >= 10;
        const values = difference[1][y][x];
        if (inFrame)
          expect(
            values.some((value) => value !== 0),
            `${y},${x}`,
          ).toBe(true);
        else
          expect(
            values.every((value) => Math.abs(value) < 1e-7),
            `${y},${x}`,
          ).toBe(true);
      }
    }
    expect(() => prompt.apply(tf.zeros([1, 12, 12, 3]) as tf.Tensor4D)).toThrow(
      /made for 10x12x3 inputs, got 12x12x3/,
    );
    expect(() => visualPrompt({ imageSize: 8, padding: 4 })).toThrow(/padding must be/);
    tf.dispose([images, prompted]);
    prompt.dispose();
  });

  it("saves and loads its pads, and names a file that is not a prompt", async () => {
    const prompt = visualPrompt({ imageSize: 16, padding: 3, initStd: 0.5, seed: 1 });
    const path = join(root, "prompt.safetensors");
    await saveVisualPrompt(prompt, path);
    const loaded = await loadVisualPrompt(path);
    expect(loaded.padding).toBe(3);
    expect(Array.from(loaded.prompt().dataSync())).toEqual(Array.from(prompt.prompt().dataSync()));
    const other = join(root, "other.safetensors");
    await writeFile(other, encodeSafetensors(new Map()));
    await expect(loadVisualPrompt(other)).rejects.toThrow(
      /other\.safetensors: not a visual prompt/,
    );
    prompt.dispose();
    loaded.dispose();
  });
});
