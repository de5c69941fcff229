import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Batch, createRandom, defineTask } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { densenet } from "../backbones/densenet/densenet";
import { selectBackend } from "../backend/select-backend";
import { createClassifier } from "../classifier";
import { linearHead } from "../heads/linear-head";
import { mlpHead } from "../heads/mlp-head";
import { loadClassifier } from "../weights/save-load";
import { sgd } from "./optimizers";
import { cosineSchedule } from "./schedules";
import { type BatchSource, createTrainer } from "./trainer";

const task = defineTask({ name: "blobs", classes: ["a", "b", "c"], kind: "multi-label" });
const directory = mkdtempSync(join(tmpdir(), "medfm-checkpoint-"));

/** A seeded source whose batch order depends on the epoch, like the data loader's. */
function source(count: number, batchSize: number): BatchSource {
  const base = createRandom(11);
  const samples = Array.from({ length: count }, (_, index) => ({
    image: Float32Array.from({ length: 12 * 12 * 3 }, () => base.normal()),
    labels: Float32Array.from({ length: 3 }, () => (base.next() < 0.4 ? 1 : 0)),
    name: `s${index}.png`,
  }));
  return {
    length: Math.ceil(count / batchSize),
    async *epoch(epoch: number) {
      const order = createRandom(`order-${epoch}`).shuffle([...samples.keys()]);
      for (let start = 0; start < count; start += batchSize) {
        const picked = order.slice(start, start + batchSize).map((index) => samples[index]);
        const images = new Float32Array(picked.length * 12 * 12 * 3);
        const labels = new Float32Array(picked.length * 3);
        picked.forEach((sample, row) => {
          images.set(sample.image, row * sample.image.length);
          labels.set(sample.labels, row * 3);
        });
        yield {
          images,
          shape: [picked.length, 12, 12, 3],
          labels,
          names: picked.map((s) => s.name),
        } as Batch;
      }
    },
  };
}

function model() {
  return createClassifier({
    backbone: densenet({
      growthRate: 4,
      blockConfig: [2, 2],
      numInitFeatures: 8,
      bnSize: 2,
      seed: 5,
    }),
    head: linearHead({ numClasses: 3, kind: "multi-label", seed: 5 }),
  });
}

function trainerFor(classifier: ReturnType<typeof model>, checkpointDir: string) {
  return createTrainer({
    model: classifier,
    task,
    optimizer: sgd({ momentum: 0.9, weightDecay: 1e-4 }),
    schedule: cosineSchedule({ baseLr: 0.05, totalSteps: 12, warmupSteps: 2 }),
    checkpointDir,
  });
}

async function weightsOf(classifier: ReturnType<typeof model>): Promise<Map<string, number[]>> {
  const state = classifier.stateDict();
  const out = new Map<string, number[]>();
  for (const [key, tensor] of state) out.set(key, Array.from(await tensor.data()));
  tf.dispose([...state.values()]);
  return out;
}

describe("checkpoints and resume", () => {
  beforeAll(async () => {
    await selectBackend({ backend: "wasm", log: () => {} });
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("an aborted then resumed run ends with the same weights as an uninterrupted one", async () => {
    const train = source(24, 6);
    const straight = model();
    const straightDir = join(directory, "straight");
    const history = await trainerFor(straight, straightDir).fit({
      train,
      validation: train,
      epochs: 3,
    });
    expect(history.interrupted).toBe(false);
    expect(readdirSync(straightDir).sort()).toEqual(["best", "last"]);
    const expected = await weightsOf(straight);
    straight.dispose();

    // Interrupt in the middle of epoch 1 (after its second batch), as Ctrl-C would.
    const interruptedDir = join(directory, "interrupted");
    const first = model();
    const controller = new AbortController();
    const firstTrainer = trainerFor(first, interruptedDir);
    firstTrainer.on("batchEnd", ({ epoch, batch }) => {
      if (epoch === 1 && batch === 1) controller.abort();
    });
    const partial = await firstTrainer.fit({
      train,
      validation: train,
      epochs: 3,
      signal: controller.signal,
    });
    expect(partial.interrupted).toBe(true);
    expect(partial.epochs).toHaveLength(1);
    first.dispose();

    // A fresh process would build a fresh model: its initial weights must not matter.
    const resumedModel = createClassifier({
      backbone: densenet({
        growthRate: 4,
        blockConfig: [2, 2],
        numInitFeatures: 8,
        bnSize: 2,
        seed: 99,
      }),
      head: linearHead({ numClasses: 3, kind: "multi-label", seed: 99 }),
    });
    const resumedTrainer = trainerFor(resumedModel, interruptedDir);
    const rest = await resumedTrainer.fit({ train, validation: train, epochs: 3, resume: true });
    expect(rest.epochs.map((epoch) => epoch.epoch)).toEqual([1, 2]);
    expect(resumedTrainer.step).toBe(12);
    const actual = await weightsOf(resumedModel);
    let worst = 0;
    for (const [key, values] of expected) {
      const other = actual.get(key)!;
      for (let i = 0; i < values.length; i += 1)
        worst = Math.max(worst, Math.abs(values[i] - other[i]));
    }
    expect(worst).toBeLessThan(1e-5);
    resumedModel.dispose();
  });

  it("an mlp head with dropout resumes exactly: same weights and metrics as an uninterrupted run", async () => {
    // Dropout in the backbone and in the head: both draw masks from their own seeded streams,
    // which a checkpoint must carry (a rebuilt model would restart them from the seed).
    const dropoutModel = () =>
      createClassifier({
        backbone: densenet({
          growthRate: 4,
          blockConfig: [2, 2],
          numInitFeatures: 8,
          bnSize: 2,
          dropRate: 0.2,
          seed: 5,
        }),
        head: mlpHead({
          numClasses: 3,
          kind: "multi-label",
          hiddenFeatures: 16,
          dropout: 0.5,
          seed: 5,
        }),
      });
    const train = source(24, 6);
    const straight = dropoutModel();
    const straightHistory = await trainerFor(straight, join(directory, "mlp-straight")).fit({
      train,
      validation: train,
      epochs: 3,
    });
    const expected = await weightsOf(straight);
    straight.dispose();

    const interruptedDir = join(directory, "mlp-interrupted");
    const first = dropoutModel();
    const controller = new AbortController();
    const firstTrainer = trainerFor(first, interruptedDir);
    firstTrainer.on("batchEnd", ({ epoch, batch }) => {
      if (epoch === 1 && batch === 1) controller.abort();
    });
    const partial = await firstTrainer.fit({
      train,
      validation: train,
      epochs: 3,
      signal: controller.signal,
    });
    expect(partial.interrupted).toBe(true);
    first.dispose();

    // A fresh process builds the same model from the same seed, streams at their start.
    const resumedModel = dropoutModel();
    const rest = await trainerFor(resumedModel, interruptedDir).fit({
      train,
      validation: train,
      epochs: 3,
      resume: true,
    });
    const actual = await weightsOf(resumedModel);
    resumedModel.dispose();
    let worst = 0;
    for (const [key, values] of expected) {
      const other = actual.get(key)!;
      for (let i = 0; i < values.length; i += 1)
        worst = Math.max(worst, Math.abs(values[i] - other[i]));
    }
    expect(worst).toBeLessThan(1e-5);
    const metricsOf = (epochs: typeof rest.epochs) =>
      epochs.map(({ epoch, loss, evaluation }) => ({ epoch, loss, metrics: evaluation?.metrics }));
    // Epoch 1's loss averages only the batches after the resume; the metrics are whole.
    expect(metricsOf(rest.epochs).map(({ epoch, metrics }) => ({ epoch, metrics }))).toEqual(
      metricsOf(straightHistory.epochs.slice(1)).map(({ epoch, metrics }) => ({ epoch, metrics })),
    );
    expect(rest.epochs[1].loss).toBe(straightHistory.epochs[2].loss);
  });

  it("refuses a checkpoint whose random streams are not the model's, naming the folder", async () => {
    const train = source(12, 6);
    const checkpointDir = join(directory, "streams-mismatch");
    const withDropout = createClassifier({
      backbone: densenet({ growthRate: 4, blockConfig: [2], numInitFeatures: 8, bnSize: 2 }),
      head: mlpHead({ numClasses: 3, kind: "multi-label", hiddenFeatures: 8, dropout: 0.5 }),
    });
    await trainerFor(withDropout, checkpointDir).fit({ train, epochs: 1 });
    withDropout.dispose();
    const state = JSON.parse(
      readFileSync(join(checkpointDir, "last", "trainer-state.json"), "utf8"),
    );
    expect(Object.keys(state.random).sort()).toEqual(["backbone.dropout", "head.dropout"]);
    delete state.random["head.dropout"];
    state.random.other = state.random["backbone.dropout"];
    writeFileSync(join(checkpointDir, "last", "trainer-state.json"), JSON.stringify(state));
    const again = createClassifier({
      backbone: densenet({ growthRate: 4, blockConfig: [2], numInitFeatures: 8, bnSize: 2 }),
      head: mlpHead({ numClasses: 3, kind: "multi-label", hiddenFeatures: 8, dropout: 0.5 }),
    });
    await expect(
      trainerFor(again, checkpointDir).fit({ train, epochs: 2, resume: true }),
    ).rejects.toThrow(
      `${join(checkpointDir, "last")}: random streams [backbone.dropout, other] in the checkpoint, but the model has [backbone.dropout, head.dropout]`,
    );
    again.dispose();
  });

  it("saves the best model as a loadable classifier", async () => {
    const classifier = model();
    const checkpointDir = join(directory, "best");
    const train = source(12, 6);
    const images = tf.randomNormal([2, 12, 12, 3], 0, 1, "float32", 3) as tf.Tensor4D;
    const trainer = trainerFor(classifier, checkpointDir);
    const predictionsByEpoch: number[][] = [];
    trainer.on("evaluate", () => {
      predictionsByEpoch.push(Array.from(tf.tidy(() => classifier.predict(images)).dataSync()));
    });
    const history = await trainer.fit({ train, validation: train, epochs: 3 });
    expect(history.best?.metric).toBe("mAP");
    const bestValue = Math.max(...history.epochs.map((epoch) => epoch.evaluation!.metrics.mAP));
    expect(history.best?.value).toBe(bestValue);
    const loaded = await loadClassifier(join(checkpointDir, "best"));
    const fromBest = Array.from(tf.tidy(() => loaded.predict(images)).dataSync());
    const atBestEpoch = predictionsByEpoch[history.best!.epoch];
    for (let i = 0; i < fromBest.length; i += 1) expect(fromBest[i]).toBeCloseTo(atBestEpoch[i], 5);
    tf.dispose(images);
    loaded.dispose();
    classifier.dispose();
  });
});
