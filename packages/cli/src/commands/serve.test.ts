/// <reference lib="dom" />
/**
 * `medfm serve` and `medfm export-web` end to end: trains a small colon model, builds the viewer
 * with Vite, serves it with `medfm serve` in a child process and drives it in headless Chromium
 * (Debian's `chromium`, driven by playwright-core) on the wasm and WebGL (SwiftShader) backends:
 * a real histology patch is dropped on the page, and its scores and Grad-CAM peak must match
 * what Node computes for the same model and image. Screenshots go to packages/cli/test-artifacts/.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { normalizeInto, readPixels } from "@medfm/data";
import {
  type Classifier,
  gradCam,
  loadClassifier,
  scoresFromLogits,
  selectBackend,
} from "@medfm/models";
import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMedfmLines as medfm } from "../testing/run-medfm";
import { type MedfmChild, spawnMedfm } from "../testing/spawn-medfm";
import type { ModelCard } from "../viewer/model-card";

const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
const cliDir = fileURLToPath(new URL("../../", import.meta.url));
const artifacts = join(cliDir, "test-artifacts");
const sample = fileURLToPath(
  new URL(
    "../../../../../shared/samples/colon/images/crcval_png_TUM-TCGA-DRHQMTQA.png",
    import.meta.url,
  ),
);
const workDir = mkdtempSync(join(tmpdir(), "medfm-serve-"));
const viewerDir = join(workDir, "viewer");
const startDir = process.cwd();
const imageSize = 128;

if (!chromium && process.env.CI === "true") {
  throw new Error("CI needs Chromium for the viewer test: apt-get install chromium");
}
if (!chromium)
  console.warn("serve.test.ts: browser tests skipped, no Chromium at /usr/bin/chromium");

interface NodeReference {
  scores: Float32Array;
  /** Grad-CAM of each class at the image's own size. */
  cams: Array<{ peak: { x: number; y: number }; heatmap: Float32Array; flat: boolean }>;
}

/** Scores and Grad-CAMs of the sample in Node, the way `medfm gradcam` computes them. */
async function nodeReference(classifier: Classifier): Promise<NodeReference> {
  const pixels = await readPixels(sample, {
    channels: 3,
    resize: { width: imageSize, height: imageSize },
  });
  const values = new Float32Array(imageSize * imageSize * 3);
  normalizeInto(values, 0, pixels);
  const image = tf.tensor4d(values, [1, imageSize, imageSize, 3]);
  const original = await readPixels(sample, { channels: 3 });
  const scores = tf.tidy(
    () =>
      scoresFromLogits(classifier.predict(image), classifier.head.task).dataSync() as Float32Array,
  );
  const cams = Array.from({ length: classifier.head.numClasses }, (_, classIndex) =>
    gradCam(classifier, image, { classIndex, outputSize: [original.height, original.width] }),
  );
  image.dispose();
  return { scores, cams };
}

/** Headless Chromium with WebGL on SwiftShader (no GPU needed). */
async function launchChromium() {
  const { chromium: browserType } = await import("playwright-core");
  return browserType.launch({
    executablePath: chromium,
    args: [
      "--no-sandbox",
      "--use-angle=swiftshader",
      "--enable-unsafe-swiftshader",
      "--ignore-gpu-blocklist",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
}

describe("medfm serve and export-web", () => {
  let runPath: string;
  let server: MedfmChild;
  let url: string;
  let reference: NodeReference;
  let classes: string[];

  beforeAll(async () => {
    process.chdir(workDir);
    process.env.MEDFM_BACKEND = "wasm";
    process.env.CI = "true";
    process.env.MEDFM_VIEWER_DIR = viewerDir;
    const require = createRequire(join(cliDir, "package.json"));
    const vite = join(dirname(require.resolve("vite/package.json")), "bin", "vite.js");
    execFileSync(
      process.execPath,
      [vite, "build", "--config", join(cliDir, "viewer", "vite.config.ts")],
      {
        cwd: cliDir,
        env: { ...process.env, MEDFM_VIEWER_OUT: viewerDir },
        stdio: "pipe",
      },
    );
    const trained = await medfm([
      "train",
      "--task",
      "colon",
      "--epochs",
      "1",
      "--image-size",
      String(imageSize),
      "--output",
      "ck-colon",
    ]);
    runPath = (trained.at(-1) as string).match(/stored in (.+)$/)?.[1] as string;
    await selectBackend({ backend: "wasm", log: () => {} });
    const classifier = await loadClassifier(join(workDir, "ck-colon", "best"));
    classes = [...(classifier.head.classes ?? [])];
    reference = await nodeReference(classifier);
    classifier.dispose();
    server = spawnMedfm(["serve", runPath, "--port", "0"], {
      cwd: workDir,
      env: { MEDFM_VIEWER_DIR: viewerDir },
    });
    url = (await server.waitFor(/at (http:\/\/127\.0\.0\.1:\d+\/)/))[1];
  });

  afterAll(async () => {
    server?.process.kill("SIGTERM");
    await server?.exited;
    process.chdir(startDir);
    delete process.env.MEDFM_VIEWER_DIR;
    rmSync(workDir, { recursive: true, force: true });
  });

  it("serves the viewer, the model and a model card drawn from the run", async () => {
    const card = (await (await fetch(`${url}model/card.json`)).json()) as ModelCard;
    expect(card).toMatchObject({
      task: "colon",
      kind: "multi-class",
      classes,
      threshold: null,
      imageSize,
      run: { id: runPath.split("/").at(-1), status: "finished" },
      trainingData: { epochs: 1, imageSize, backbone: "densenet-tiny" },
    });
    expect(Object.keys(card.metrics)).toEqual(
      expect.arrayContaining(["val/accuracy", "val/best_accuracy"]),
    );
    expect(card.metrics["val/best_epoch"]).toBeUndefined();
    const modelJson = readFileSync(join(workDir, "ck-colon", "best", "model.json"));
    expect(Buffer.from(await (await fetch(`${url}model/model.json`)).arrayBuffer())).toEqual(
      modelJson,
    );
    const wasm = await fetch(`${url}tfjs-wasm/tfjs-backend-wasm-simd.wasm`);
    expect(wasm.headers.get("content-type")).toBe("application/wasm");
    expect((await fetch(`${url}../../etc/passwd`)).status).toBe(404);
  });

  it("export-web writes the same files as static files", async () => {
    const out = join(workDir, "site");
    const written = await medfm(["export-web", runPath, "--out", out]);
    expect(written.at(-1)).toMatch(
      /^Wrote the viewer for .+ck-colon\/best to .+site \(\d+ files\)$/,
    );
    const files = readdirSync(out, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(out.length));
    expect(files).toEqual(
      expect.arrayContaining([
        "/index.html",
        "/model/model.json",
        "/model/weights.bin",
        "/model/card.json",
        "/tfjs-wasm/tfjs-backend-wasm.wasm",
      ]),
    );
    for (const file of files) {
      const served = Buffer.from(await (await fetch(`${url}${file.slice(1)}`)).arrayBuffer());
      expect(served.equals(readFileSync(join(out, file))), file).toBe(true);
    }
  });

  it("export-web of a bare model directory has a card without training data, and --run adds it", async () => {
    const bare = join(workDir, "bare-site");
    await medfm(["export-web", join(workDir, "ck-colon", "best"), "--out", bare]);
    const card = JSON.parse(readFileSync(join(bare, "model", "card.json"), "utf8")) as ModelCard;
    expect(card).toMatchObject({
      task: "colon",
      imageSize,
      trainingData: null,
      metrics: {},
      run: null,
    });
    const withRun = join(workDir, "run-site");
    await medfm(["export-web", join(workDir, "ck-colon"), "--run", runPath, "--out", withRun]);
    const full = JSON.parse(readFileSync(join(withRun, "model", "card.json"), "utf8")) as ModelCard;
    expect(full.run?.id).toBe(runPath.split("/").at(-1));
    expect(full.trainingData?.train).toMatch(/synthetic-colon\/train\.txt$/);
  });

  it("refuses a folder with neither a model nor a run, saying what it looked for", async () => {
    mkdirSync(join(workDir, "empty"), { recursive: true });
    await expect(medfm(["export-web", join(workDir, "empty"), "--out", "x"])).rejects.toThrow(
      /empty: neither a model directory \(model\.json, or best\/ or last\/ of medfm train --output\) nor a run folder or id/,
    );
  });

  describe.skipIf(!chromium)("in Chromium", () => {
    it("decodes PNGs (RGB, gray) and a JPEG to the bytes sharp decodes in Node", async () => {
      const samples = fileURLToPath(new URL("../../../../../shared/samples/", import.meta.url));
      const endo = join(samples, "endo", "images");
      const files = [
        sample,
        join(samples, "chest", "images", "00000129_000.png"),
        join(endo, readdirSync(endo).filter((name) => name.endsWith(".jpg"))[0]),
      ];
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        for (const file of files) {
          // The decode the viewer uses: createImageBitmap without colour conversion.
          const decoded = await page.evaluate(async (bytes) => {
            const data = Uint8Array.from(atob(bytes), (char) => char.charCodeAt(0));
            const bitmap = await createImageBitmap(new Blob([data]), {
              colorSpaceConversion: "none",
              premultiplyAlpha: "none",
            });
            const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
            const context = canvas.getContext("2d") as OffscreenCanvasRenderingContext2D;
            context.drawImage(bitmap, 0, 0);
            return btoa(
              Array.from(context.getImageData(0, 0, bitmap.width, bitmap.height).data, (value) =>
                String.fromCharCode(value),
              ).join(""),
            );
          }, readFileSync(file).toString("base64"));
          const expected = await sharp(file).toColourspace("srgb").ensureAlpha().raw().toBuffer();
          expect(Buffer.from(decoded, "base64").equals(expected), file).toBe(true);
        }
      } finally {
        await browser.close();
      }
    });

    it.each(["wasm", "webgl"])(
      "on %s: a dropped image gets Node's scores and Grad-CAM peak",
      async (backend) => {
        const browser = await launchChromium();
        try {
          const page = await browser.newPage({ viewport: { width: 1100, height: 820 } });
          const errors: string[] = [];
          page.on("console", (message) => {
            if (message.type() === "error") errors.push(message.text());
          });
          page.on("pageerror", (error) => errors.push(error.message));
          await page.goto(`${url}?backend=${backend}`);
          await page.waitForSelector("body[data-state=ready], body[data-state=error]");
          expect(await page.textContent("#status")).toMatch(/^Model loaded \(2 classes\)/);
          expect(await page.textContent("#backend")).toBe(backend);
          // Drop the file as a user would: a drop event carrying it in its DataTransfer.
          const bytes = readFileSync(sample).toString("base64");
          await page.evaluate(
            ({ bytes, name }) => {
              const data = Uint8Array.from(atob(bytes), (char) => char.charCodeAt(0));
              const transfer = new DataTransfer();
              transfer.items.add(new File([data], name, { type: "image/png" }));
              const drop = document.getElementById("drop") as HTMLElement;
              drop.dispatchEvent(
                new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }),
              );
            },
            { bytes, name: "tumor-patch.png" },
          );
          await page.waitForSelector("body[data-state=explained], body[data-state=error]");
          expect(await page.textContent("#status")).toMatch(/^Grad-CAM of /);
          const bars = await page.$$eval("#scores li", (items) =>
            items.map((item) => ({
              index: Number(item.dataset.index),
              score: Number(item.dataset.score),
            })),
          );
          // Sorted by score, one bar per class, each within 1e-4 of Node's.
          expect(bars.map((bar) => bar.score)).toEqual(
            [...bars.map((bar) => bar.score)].sort((a, b) => b - a),
          );
          expect(bars).toHaveLength(classes.length);
          for (const bar of bars) {
            expect(Math.abs(bar.score - reference.scores[bar.index])).toBeLessThan(1e-4);
          }
          // Pick the class Node's map localises (not flat), the one not shown first if both do.
          const explainable = [...reference.cams.keys()].filter(
            (index) => !reference.cams[index].flat,
          );
          expect(explainable.length).toBeGreaterThan(0);
          const chosen = explainable.find((index) => index !== bars[0].index) ?? explainable[0];
          await page.selectOption("#class", String(chosen));
          await page.waitForFunction(
            (name) => document.getElementById("overlay")?.dataset.class === name,
            classes[chosen],
          );
          await page.fill("#opacity", "0.6");
          const overlay = await page.evaluate(() => {
            const canvas = document.getElementById("overlay") as HTMLCanvasElement;
            const context = canvas.getContext("2d") as CanvasRenderingContext2D;
            const { data, width, height } = context.getImageData(0, 0, canvas.width, canvas.height);
            const alpha = Array.from({ length: width * height }, (_, index) => data[index * 4 + 3]);
            return {
              width,
              height,
              alpha,
              peak: { x: Number(canvas.dataset.peakX), y: Number(canvas.dataset.peakY) },
              opacity: getComputedStyle(canvas).opacity,
            };
          });
          const cam = reference.cams[chosen];
          expect([overlay.width, overlay.height]).toEqual([224, 224]);
          expect(overlay.opacity).toBe("0.6");
          // Not blank: the heatmap's alpha spans a range of values.
          expect(new Set(overlay.alpha).size).toBeGreaterThan(10);
          // The peak is where Node's is: the browser's brightest pixel is Node's brightest
          // (within rounding), and the canvas is fully opaque there.
          const nodePeakIndex = cam.peak.y * 224 + cam.peak.x;
          expect(overlay.alpha[nodePeakIndex]).toBeGreaterThanOrEqual(254);
          expect(cam.heatmap[overlay.peak.y * 224 + overlay.peak.x]).toBeGreaterThan(0.999);
          expect(Math.hypot(overlay.peak.x - cam.peak.x, overlay.peak.y - cam.peak.y)).toBeLessThan(
            2,
          );
          mkdirSync(artifacts, { recursive: true });
          await page.screenshot({ path: join(artifacts, `viewer-${backend}.png`) });
          expect(errors).toEqual([]);
        } finally {
          await browser.close();
        }
      },
    );
  });
});
