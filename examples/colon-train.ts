/**
 * Colon histology (MedFMC ColonPath, binary tumour/normal) end to end: a softmax head,
 * accuracy and AUC per epoch, a tracked run.
 *
 *   tsx examples/colon-train.ts                      # embedded synthetic dataset
 *   tsx examples/colon-train.ts --data-root DIR --train-ann FILE --val-ann FILE
 *
 * Options: --epochs N, --image-size N, --batch-size N, --lr X, --seed S.
 * Colon file names contain spaces; the label is the last token of each line. K-shot means K
 * patients per class (patient id = file name minus its last 9 characters).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { colonTask, createLoader, generateSyntheticDataset, readAnnotationFile } from "@medfm/data";
import {
  cosineSchedule,
  createClassifier,
  createTrainer,
  densenet,
  linearHead,
  selectBackend,
  sgd,
} from "@medfm/models";
import { initRun } from "@medfm/track";

const { values: args } = parseArgs({
  options: {
    "data-root": { type: "string" },
    "train-ann": { type: "string" },
    "val-ann": { type: "string" },
    epochs: { type: "string", default: "6" },
    "image-size": { type: "string", default: "64" },
    "batch-size": { type: "string", default: "16" },
    lr: { type: "string", default: "0.01" },
    seed: { type: "string", default: "0" },
  },
});
const [epochs, imageSize, batchSize, lr, seed] = [
  args.epochs,
  args["image-size"],
  args["batch-size"],
  args.lr,
  args.seed,
].map(Number);

const dataset = args["data-root"]
  ? {
      dataRoot: args["data-root"],
      trainAnnotation: args["train-ann"]!,
      valAnnotation: args["val-ann"]!,
    }
  : await generateSyntheticDataset({
      task: "colon",
      outputDir: join(".medfm", "datasets", "synthetic-colon"),
      imageSize,
      seed,
    });
const { dataRoot } = dataset;
const train = await readAnnotationFile(dataset.trainAnnotation, { task: colonTask, dataRoot });
const val = await readAnnotationFile(dataset.valAnnotation, { task: colonTask, dataRoot });
// Histology has no orientation: flips are free augmentation.
const trainLoader = createLoader({
  samples: train.samples,
  dataRoot,
  imageSize,
  batchSize,
  shuffle: true,
  augment: { randomResizedCrop: { scale: [0.5, 1] }, horizontalFlip: 0.5 },
  seed,
});
const valLoader = createLoader({ samples: val.samples, dataRoot, imageSize, batchSize });

await selectBackend();
const model = createClassifier({
  backbone: densenet({
    growthRate: 12,
    blockConfig: [2, 2, 2, 2],
    numInitFeatures: 16,
    bnSize: 4,
    seed,
  }),
  head: linearHead({ numClasses: 2, kind: "multi-class", classes: colonTask.classes, seed }),
});
const run = initRun({ project: "medfm-examples", name: "colon-train", tags: ["colon", "demo"] });
run.params = { task: "colon", epochs, imageSize, batchSize, lr, optimizer: "sgd", seed };

// The MedFM DenseNet recipe: SGD, momentum 0.9, weight decay 1e-4, cosine to 0.
const trainer = createTrainer({
  model,
  task: colonTask,
  optimizer: sgd({ momentum: 0.9, weightDecay: 1e-4 }),
  schedule: cosineSchedule({ baseLr: lr, totalSteps: epochs * trainLoader.length }),
});
trainer.on("batchEnd", ({ loss, step }) => run["train/loss"].append(loss, { step }));
trainer.on("epochEnd", ({ epoch, loss, evaluation }) => {
  if (!evaluation) return;
  const { accuracy, AUC } = evaluation.metrics;
  run["val/accuracy"].append(accuracy, { step: epoch });
  run["val/AUC"].append(AUC, { step: epoch });
  console.log(
    `epoch ${epoch + 1}/${epochs}  loss ${loss.toFixed(4)}  val accuracy ${(accuracy * 100).toFixed(2)} ` +
      `(majority class ${(evaluation.chance * 100).toFixed(2)})  AUC ${(AUC * 100).toFixed(2)}`,
  );
});
await trainer.fit({ train: trainLoader, validation: valLoader, epochs });
await run.stop();
model.dispose();
console.log(`Run ${run.id} stored in ${run.path}`);
