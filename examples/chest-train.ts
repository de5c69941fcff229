/**
 * Chest X-ray screening (MedFMC ChestDR, 19-class multi-label) end to end:
 * annotations → loader → DenseNet → trainer → mAP/AUC → tracked run.
 *
 *   tsx examples/chest-train.ts                      # embedded synthetic dataset
 *   tsx examples/chest-train.ts --data-root DIR --train-ann FILE --val-ann FILE
 *
 * Options: --epochs N, --image-size N, --batch-size N, --lr X, --seed S, --backend wasm|cpu|tensorflow.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chestTask, createLoader, generateSyntheticDataset, readAnnotationFile } from "@medfm/data";
import {
  adamw,
  cosineSchedule,
  createClassifier,
  createTrainer,
  densenet,
  linearHead,
  selectBackend,
} from "@medfm/models";
import { initRun } from "@medfm/track";

const { values: args } = parseArgs({
  options: {
    "data-root": { type: "string" },
    "train-ann": { type: "string" },
    "val-ann": { type: "string" },
    epochs: { type: "string", default: "12" },
    "image-size": { type: "string", default: "64" },
    "batch-size": { type: "string", default: "16" },
    lr: { type: "string", default: "0.003" },
    seed: { type: "string", default: "0" },
    backend: { type: "string" },
  },
});
const epochs = Number(args.epochs);
const imageSize = Number(args["image-size"]);
const batchSize = Number(args["batch-size"]);
const seed = Number(args.seed);

// 1. Data: a real MedFMC download, or the embedded synthetic chest dataset.
let dataRoot: string;
let trainAnnotation: string;
let valAnnotation: string;
if (args["data-root"]) {
  if (!args["train-ann"] || !args["val-ann"]) {
    throw new Error("--data-root needs --train-ann and --val-ann (chest annotation files)");
  }
  dataRoot = args["data-root"];
  trainAnnotation = args["train-ann"];
  valAnnotation = args["val-ann"];
} else {
  const dataset = await generateSyntheticDataset({
    task: "chest",
    outputDir: join(".medfm", "datasets", "synthetic-chest"),
    imageSize,
    seed,
  });
  ({ dataRoot, trainAnnotation, valAnnotation } = dataset);
  console.log(
    `Synthetic chest dataset (${dataset.counts.train} train, ${dataset.counts.val} val) in ${dataRoot}`,
  );
}
const train = await readAnnotationFile(trainAnnotation, { task: chestTask, dataRoot });
const val = await readAnnotationFile(valAnnotation, { task: chestTask, dataRoot });
const trainLoader = createLoader({
  samples: train.samples,
  dataRoot,
  imageSize,
  batchSize,
  shuffle: true,
  // No flips: laterality matters on a chest X-ray (the heart is on the image right).
  augment: { randomResizedCrop: { scale: [0.7, 1], ratio: [0.9, 1.1] }, horizontalFlip: 0 },
  seed,
});
// mmpretrain's mAP keeps classes without positives in the mean at AP 0: say so up front.
const absent = chestTask.classes.filter(
  (_, c) => !val.samples.some((sample) => sample.labels[c] === 1),
);
if (absent.length > 0) {
  const cap = ((chestTask.classes.length - absent.length) / chestTask.classes.length) * 100;
  console.log(
    `${absent.length} of ${chestTask.classes.length} classes have no positive in the validation set: they score AP 0, so mAP is at most ${cap.toFixed(2)}.`,
  );
}
const valLoader = createLoader({ samples: val.samples, dataRoot, imageSize, batchSize });

// 2. Model: a small DenseNet (same code as densenet121, fewer layers) with a sigmoid head.
await selectBackend(args.backend ? { backend: args.backend as "wasm" } : {});
const model = createClassifier({
  backbone: densenet({
    growthRate: 12,
    blockConfig: [2, 2, 2, 2],
    numInitFeatures: 16,
    bnSize: 4,
    seed,
  }),
  head: linearHead({
    numClasses: chestTask.classes.length,
    kind: "multi-label",
    classes: chestTask.classes,
    seed,
  }),
});

// 3. Tracking: a local run under ./.medfm/runs (MEDFM_TRACK_URI sends it to MLflow instead).
const run = initRun({ project: "medfm-examples", name: "chest-train", tags: ["chest", "demo"] });
const lr = Number(args.lr);
run.params = {
  task: "chest",
  epochs,
  imageSize,
  batchSize,
  lr,
  optimizer: "adamw",
  seed,
  train: trainAnnotation,
  val: valAnnotation,
};

// 4. Training: the trainer knows nothing of tracking; we subscribe to its events.
const trainer = createTrainer({
  model,
  task: chestTask,
  optimizer: adamw({ weightDecay: 1e-4 }),
  schedule: cosineSchedule({
    baseLr: lr,
    totalSteps: epochs * trainLoader.length,
    warmupSteps: trainLoader.length,
  }),
});
trainer.on("batchEnd", ({ loss, step }) => run["train/loss"].append(loss, { step }));
trainer.on("epochEnd", ({ epoch, loss, evaluation, seconds }) => {
  if (!evaluation) return;
  const { mAP, AUC } = evaluation.metrics;
  run["val/mAP"].append(mAP, { step: epoch });
  run["val/AUC"].append(AUC, { step: epoch });
  console.log(
    `epoch ${String(epoch + 1).padStart(2)}/${epochs}  loss ${loss.toFixed(4)}  ` +
      `val mAP ${(mAP * 100).toFixed(2)} (chance ${(evaluation.chance * 100).toFixed(2)})  ` +
      `AUC ${(AUC * 100).toFixed(2)}  ${seconds.toFixed(1)}s`,
  );
});

const history = await trainer.fit({ train: trainLoader, validation: valLoader, epochs });
const last = history.epochs.at(-1)?.evaluation;
if (last) {
  run["val/final_mAP"] = last.metrics.mAP;
  run["val/chance_mAP"] = last.chance;
}
await run.stop();
model.dispose();
console.log(`Run ${run.id} stored in ${run.path}`);
