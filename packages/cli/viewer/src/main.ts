// The model viewer: loads the model `medfm serve` (or `medfm export-web`) put under ./model/,
// scores a dropped image in the browser with TensorFlow.js and draws Grad-CAM over it.
import "./style.css";
import { decodeImageBlob, preprocessRgba, type RgbaImage, resizedRegion } from "@medfm/data";
import {
  type BrowserBackendName,
  browserBackendNames,
  type Classifier,
  classifierFromArtifacts,
  gradCam,
  httpClassifier,
  jetColor,
  scoresFromLogits,
  selectBrowserBackend,
} from "@medfm/models";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-webgpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import type { ModelCard } from "../../src/viewer/model-card";

const element = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = element<HTMLSpanElement>("status");
const imageCanvas = element<HTMLCanvasElement>("image");
const overlayCanvas = element<HTMLCanvasElement>("overlay");
const classSelect = element<HTMLSelectElement>("class");
const opacity = element<HTMLInputElement>("opacity");

interface Loaded {
  classifier: Classifier;
  card: ModelCard;
}

interface Scored {
  name: string;
  rgba: RgbaImage;
  input: tf.Tensor4D;
  scores: Float32Array;
}

let scored: Scored | undefined;

function say(text: string, state: string): void {
  status.textContent = text;
  status.classList.toggle("error", state === "error");
  document.body.dataset.state = state;
}

/** The backends to try: `?backend=wasm` (or a comma list) forces them, else webgpu > webgl > wasm. */
function backendOrder(): BrowserBackendName[] {
  const asked = new URLSearchParams(location.search).get("backend");
  if (!asked) return ["webgpu", "webgl", "wasm"];
  return asked.split(",").map((name) => {
    if (!browserBackendNames.includes(name as BrowserBackendName)) {
      throw new Error(`?backend=${asked}: ${name} is not one of ${browserBackendNames.join(", ")}`);
    }
    return name as BrowserBackendName;
  });
}

function renderCard(card: ModelCard): void {
  const rows: Array<[string, string]> = [
    ["Task", `${card.task ?? "unknown"} (${card.kind})`],
    ["Classes", card.classes.join(", ")],
    [
      "Decision",
      card.threshold === null
        ? "highest score (softmax)"
        : `score ≥ ${card.threshold} (sigmoid, per class)`,
    ],
    [
      "Input",
      `${card.imageSize}×${card.imageSize}, ${card.preprocessing.backend} ${card.preprocessing.kernel} resize${card.preprocessing.resize.mode === "short-side-crop" ? `, centre crop of a ${card.preprocessing.resize.shortSide} px short side` : card.preprocessing.resize.mode === "squash-crop" ? `, centre crop of a ${card.preprocessing.resize.shortSide} px square` : ""}, mean ${card.preprocessing.mean.map((value) => value.toFixed(1)).join("/")}, std ${card.preprocessing.std.map((value) => value.toFixed(1)).join("/")}`,
    ],
    ["Architecture", `${card.architecture.backbone} + ${card.architecture.head} head`],
  ];
  if (card.trainingData) {
    const data = card.trainingData;
    rows.push(["Trained on", data.train ?? "unknown"]);
    rows.push(["Validated on", data.val ?? "unknown"]);
    if (data.epochs !== null) rows.push(["Epochs", String(data.epochs)]);
  } else {
    rows.push(["Training data", "not recorded (no run given)"]);
  }
  for (const [name, value] of Object.entries(card.metrics)) rows.push([name, value.toFixed(4)]);
  if (card.run) rows.push(["Run", `${card.run.id} (${card.run.status})`]);
  const list = element<HTMLDListElement>("card");
  list.replaceChildren(
    ...rows.flatMap(([term, description]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = description;
      return [dt, dd];
    }),
  );
  element("threshold-note").textContent =
    card.threshold === null
      ? "Bars sorted by score; the top class is the prediction."
      : `Bars sorted by score; the line marks the threshold ${card.threshold}.`;
}

function renderScores(card: ModelCard, scores: Float32Array, selected: number): void {
  const order = [...scores.keys()].sort((a, b) => scores[b] - scores[a]);
  const top = order[0];
  element<HTMLOListElement>("scores").replaceChildren(
    ...order.map((index) => {
      const item = document.createElement("li");
      item.dataset.class = card.classes[index];
      item.dataset.index = String(index);
      item.dataset.score = String(scores[index]);
      item.classList.toggle("selected", index === selected);
      const label = document.createElement("span");
      label.textContent = card.classes[index];
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${(scores[index] * 100).toFixed(2)}%`;
      const called = card.threshold === null ? index === top : scores[index] >= card.threshold;
      fill.classList.toggle("above", called);
      bar.append(fill);
      if (card.threshold !== null) {
        const line = document.createElement("i");
        line.style.left = `${card.threshold * 100}%`;
        bar.append(line);
      }
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = scores[index].toFixed(4);
      item.append(label, bar, value);
      item.addEventListener("click", () => {
        classSelect.value = String(index);
        classSelect.dispatchEvent(new Event("change"));
      });
      return item;
    }),
  );
}

function drawImage(rgba: RgbaImage): void {
  for (const canvas of [imageCanvas, overlayCanvas]) {
    canvas.width = rgba.width;
    canvas.height = rgba.height;
  }
  const context = imageCanvas.getContext("2d") as CanvasRenderingContext2D;
  context.putImageData(
    new ImageData(new Uint8ClampedArray(rgba.data), rgba.width, rgba.height),
    0,
    0,
  );
  element("stage").hidden = false;
  element("overlay-controls").hidden = false;
}

/**
 * Grad-CAM of one class, drawn in the jet colours with the heatmap as alpha, over the part of
 * the image the model saw (the centre, for weights that crop).
 */
function explain(loaded: Loaded, image: Scored, classIndex: number): void {
  const { rgba } = image;
  const { imageSize, preprocessing } = loaded.card;
  const region = resizedRegion(
    { ...preprocessing.resize, width: imageSize, height: imageSize },
    rgba.width,
    rgba.height,
  );
  const result = gradCam(loaded.classifier, image.input, {
    classIndex,
    outputSize: [region.height, region.width],
  });
  const pixels = new ImageData(region.width, region.height);
  for (let i = 0; i < result.heatmap.length; i += 1) {
    const value = result.heatmap[i];
    const [red, green, blue] = jetColor(value);
    pixels.data[i * 4] = red;
    pixels.data[i * 4 + 1] = green;
    pixels.data[i * 4 + 2] = blue;
    pixels.data[i * 4 + 3] = Math.round(value * 255);
  }
  const overlay = overlayCanvas.getContext("2d") as CanvasRenderingContext2D;
  overlay.clearRect(0, 0, overlayCanvas.width, overlayCanvas.height);
  overlay.putImageData(pixels, region.left, region.top);
  overlayCanvas.dataset.class = loaded.card.classes[classIndex];
  // The peak in the image's own pixels.
  const peak = { x: result.peak.x + region.left, y: result.peak.y + region.top };
  overlayCanvas.dataset.peakX = String(peak.x);
  overlayCanvas.dataset.peakY = String(peak.y);
  overlayCanvas.dataset.flat = String(result.flat);
  renderScores(loaded.card, image.scores, classIndex);
  say(
    result.flat
      ? `Grad-CAM of ${loaded.card.classes[classIndex]} is flat: no positive evidence anywhere`
      : `Grad-CAM of ${loaded.card.classes[classIndex]}: peak at x=${peak.x}, y=${peak.y}`,
    "explained",
  );
}

async function score(loaded: Loaded, file: File): Promise<void> {
  say(`Reading ${file.name}…`, "busy");
  const rgba = await decodeImageBlob(file, file.name);
  const { card } = loaded;
  const values = preprocessRgba(rgba, {
    imageSize: card.imageSize,
    resize: card.preprocessing.resize,
    mean: card.preprocessing.mean,
    std: card.preprocessing.std,
  });
  scored?.input.dispose();
  const input = tf.tensor4d(values, [1, card.imageSize, card.imageSize, 3]);
  const output = tf.tidy(() =>
    scoresFromLogits(loaded.classifier.predict(input), loaded.classifier.head.task),
  );
  const scores = (await output.data()) as Float32Array;
  output.dispose();
  scored = { name: file.name, rgba, input, scores };
  drawImage(rgba);
  const top = [...scores.keys()].sort((a, b) => scores[b] - scores[a])[0];
  classSelect.value = String(top);
  renderScores(card, scores, top);
  document.body.dataset.image = file.name;
  explain(loaded, scored, top);
}

async function start(): Promise<void> {
  const order = backendOrder();
  setWasmPaths(new URL("./tfjs-wasm/", document.baseURI).href);
  const selection = await selectBrowserBackend({ order });
  const backend = element("backend");
  backend.textContent = selection.backend;
  backend.title = selection.skipped
    .map(({ backend: name, reason }) => `${name}: ${reason}`)
    .join("\n");
  document.body.dataset.backend = selection.backend;
  const card = (await (await fetch("./model/card.json")).json()) as ModelCard;
  renderCard(card);
  const artifacts = await httpClassifier("./model/model.json").load();
  const loaded: Loaded = { classifier: classifierFromArtifacts(artifacts), card };
  classSelect.replaceChildren(
    ...card.classes.map((name, index) => new Option(name, String(index))),
  );
  classSelect.addEventListener("change", () => {
    if (scored) explain(loaded, scored, Number(classSelect.value));
  });
  opacity.addEventListener("input", () => {
    overlayCanvas.style.opacity = opacity.value;
  });
  overlayCanvas.style.opacity = opacity.value;
  const run = (file: File | undefined) => {
    if (file) score(loaded, file).catch(fail);
  };
  const input = element<HTMLInputElement>("file");
  input.addEventListener("change", () => run(input.files?.[0]));
  const drop = element("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    run(event.dataTransfer?.files[0]);
  });
  say(`Model loaded (${card.classes.length} classes). Drop an image.`, "ready");
}

function fail(error: unknown): void {
  console.error(error);
  say(`Error: ${(error as Error).message}`, "error");
}

start().catch(fail);
