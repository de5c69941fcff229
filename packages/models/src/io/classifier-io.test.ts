import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { densenet } from "../backbones/densenet/densenet";
import { type Classifier, createClassifier } from "../classifier";
import { linearHead } from "../heads/linear-head";
import { loadClassifier, saveClassifier } from "../weights/save-load";
import { browserFilesClassifier } from "./browser-files-classifier";
import { ClassifierFileError, loadClassifierFrom } from "./classifier-artifacts";
import { fileSystemClassifier } from "./file-system-classifier";
import { httpClassifier } from "./http-classifier";

const small = { growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2, seed: 7 };
let directory: string;
let server: Server;
let baseUrl: string;
let reference: Classifier;
let x: tf.Tensor4D;

function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

beforeAll(async () => {
  await tf.setBackend("cpu");
  const model = createClassifier({
    backbone: densenet(small),
    head: linearHead({ numClasses: 2, kind: "multi-label", classes: ["tumor", "normal"] }),
  });
  x = tf.randomNormal([2, 24, 24, 3], 0, 1, "float32", 3) as tf.Tensor4D;
  // Move the running statistics off their start so a missed tensor would show.
  tf.dispose(model.forward(x, { training: true }));
  directory = mkdtempSync(join(tmpdir(), "medfm-io-"));
  await saveClassifier(model, directory, { metadata: { imageSize: 24 } });
  model.dispose();
  reference = await loadClassifier(directory);
  server = createServer((request, response) => {
    const name = (request.url ?? "/").replace(/^\/model\//, "");
    try {
      response.end(readFileSync(join(directory, name)));
    } catch {
      response.statusCode = 404;
      response.end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server?.close();
  reference?.dispose();
  x?.dispose();
  rmSync(directory, { recursive: true, force: true });
});

describe("classifier io handlers", () => {
  it("fileSystemClassifier loads what saveClassifier wrote, as loadClassifier does", async () => {
    const loaded = await loadClassifierFrom(fileSystemClassifier(directory));
    expect(loaded.head.classes).toEqual(["tumor", "normal"]);
    expect(maxAbsDifference(loaded.predict(x), reference.predict(x))).toBe(0);
    loaded.dispose();
  });

  it("httpClassifier fetches model.json and the weights relative to it", async () => {
    const loaded = await loadClassifierFrom(httpClassifier(`${baseUrl}/model/model.json`));
    expect(maxAbsDifference(loaded.predict(x), reference.predict(x))).toBe(0);
    loaded.dispose();
  });

  it("httpClassifier names the URL and status of a missing weights file", async () => {
    const modelJson = JSON.parse(readFileSync(join(directory, "model.json"), "utf8"));
    modelJson.weightsManifest[0].paths = ["missing.bin"];
    writeFileSync(join(directory, "broken.json"), JSON.stringify(modelJson));
    const error = await httpClassifier(`${baseUrl}/model/broken.json`)
      .load()
      .catch((caught: unknown) => caught);
    expect(ClassifierFileError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe(`${baseUrl}/model/missing.bin: HTTP 404 Not Found`);
  });

  it("browserFilesClassifier reads File objects matched by name", async () => {
    const files = ["weights.bin", "model.json"].map(
      (name) => new File([readFileSync(join(directory, name))], name),
    );
    const loaded = await loadClassifierFrom(browserFilesClassifier(files));
    expect(maxAbsDifference(loaded.predict(x), reference.predict(x))).toBe(0);
    loaded.dispose();
    const error = await browserFilesClassifier(files.slice(1))
      .load()
      .catch((caught: unknown) => caught);
    expect((error as Error).message).toBe(
      "model.json: its manifest needs weights.bin, which is not among the files (model.json)",
    );
  });

  it("refuses a model.json of another format, naming the file and the value", async () => {
    const file = new File([JSON.stringify({ format: "tfjs-layers" })], "model.json");
    await expect(browserFilesClassifier([file]).load()).rejects.toThrow(
      'model.json: format is "tfjs-layers", expected "medfm-classifier"',
    );
  });

  it("refuses weights whose size does not match the manifest", async () => {
    const files = [
      new File([readFileSync(join(directory, "model.json"))], "model.json"),
      new File([readFileSync(join(directory, "weights.bin")).subarray(4)], "weights.bin"),
    ];
    await expect(loadClassifierFrom(browserFilesClassifier(files))).rejects.toThrow(
      /^model\.json: weights hold \d+ bytes but the manifest describes \d+$/,
    );
  });

  it("refuses an unregistered backbone type, naming the file and the registered types", async () => {
    const json = JSON.parse(readFileSync(join(directory, "model.json"), "utf8"));
    json.modelTopology.backbone.type = "resnet";
    const files = [
      new File([JSON.stringify(json)], "model.json"),
      new File([readFileSync(join(directory, "weights.bin"))], "weights.bin"),
    ];
    await expect(loadClassifierFrom(browserFilesClassifier(files))).rejects.toThrow(
      'model.json: unknown backbone type "resnet"; registered types: densenet',
    );
  });

  it("carries the recorded preprocessing, and ImageNet's for files without it", async () => {
    const json = JSON.parse(readFileSync(join(directory, "model.json"), "utf8"));
    json.preprocessing = {
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      inputSize: 24,
      interpolation: "bicubic",
      crop: 1,
    };
    const weights = readFileSync(join(directory, "weights.bin"));
    const recorded = await loadClassifierFrom(
      browserFilesClassifier([
        new File([JSON.stringify(json)], "model.json"),
        new File([weights], "weights.bin"),
      ]),
    );
    expect(recorded.preprocessing).toMatchObject({ mean: [0.5, 0.5, 0.5], inputSize: 24 });
    recorded.dispose();
    delete json.preprocessing;
    const old = await loadClassifierFrom(
      browserFilesClassifier([
        new File([JSON.stringify(json)], "model.json"),
        new File([weights], "weights.bin"),
      ]),
    );
    expect(old.preprocessing).toMatchObject({ mean: [0.485, 0.456, 0.406], inputSize: 224 });
    old.dispose();
  });
});
