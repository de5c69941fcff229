/**
 * The MedFM few-shot protocol for one task, comparing adaptation methods on the same K-shot
 * files: linear probe (MedFM's Baseline: logistic regression on L2-normalised features),
 * Meta-Baseline (cosine prototypes), visual prompting (a learnable pixel frame, backbone frozen)
 * and full fine-tuning.
 *
 *   tsx examples/few-shot.ts                                   # synthetic endo, generated K-shot files
 *   tsx examples/few-shot.ts --task chest --data-root DIR --anns DIR --weights densenet121.safetensors
 *
 * Options: --task chest|colon|endo, --shots 1,5, --exps 2, --image-size N, --methods a,b.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  createLoader,
  fewShotFileName,
  generateSyntheticDataset,
  getTask,
  readAnnotationFile,
  sampleFewShot,
  writeFewShotFiles,
} from "@medfm/data";
import { challengeScore } from "@medfm/metrics";
import {
  type AdaptationMethod,
  adaptClassifier,
  createClassifier,
  createClassifierFromTorch,
  densenet,
  evaluateModel,
  linearHead,
  readSafetensors,
  selectBackend,
} from "@medfm/models";

const { values: args } = parseArgs({
  options: {
    task: { type: "string", default: "endo" },
    "data-root": { type: "string" },
    anns: { type: "string" },
    weights: { type: "string" },
    shots: { type: "string", default: "1,5" },
    exps: { type: "string", default: "2" },
    "image-size": { type: "string", default: "32" },
    methods: { type: "string", default: "linear-probe,meta-baseline,visual-prompt,finetune" },
  },
});
const task = getTask(args.task!);
const shots = args.shots!.split(",").map(Number);
const experiments = Array.from({ length: Number(args.exps) }, (_, index) => index + 1);
const imageSize = Number(args["image-size"]);
const methods = args.methods!.split(",") as AdaptationMethod[];

// 1. Data: official few-shot files, or K-shot files drawn from a synthetic pool.
let dataRoot = args["data-root"];
let anns = args.anns;
if (!dataRoot || !anns) {
  const dataset = await generateSyntheticDataset({
    task: task.name as "endo",
    outputDir: join(".medfm", "datasets", `synthetic-${task.name}`),
    imageSize,
  });
  dataRoot = dataset.dataRoot;
  anns = join(dataset.dataRoot, "..", "fewshot");
  const pool = await readAnnotationFile(dataset.trainAnnotation, { task });
  for (const shot of shots) {
    // K images (chest), patients (colon) or studies (endo) per class; never overlapping val.
    await writeFewShotFiles(
      anns,
      task,
      shot,
      sampleFewShot(pool.samples, { shots: shot, experiments: experiments.length, seed: 0 }),
    );
  }
}

await selectBackend();
const results: Array<{
  method: string;
  shot: number;
  experiment: number;
  [metric: string]: number | string;
}> = [];
for (const method of methods) {
  for (const shot of shots) {
    for (const experiment of experiments) {
      const support = await readAnnotationFile(
        join(anns, fewShotFileName(task.name, shot, "train", experiment)),
        { task, dataRoot, duplicates: "drop" },
      );
      const evaluation = await readAnnotationFile(
        join(anns, fewShotFileName(task.name, shot, "val", experiment)),
        { task, dataRoot, duplicates: "drop" },
      );

      // 2. A pretrained backbone (or a small random one without --weights) and a fresh head.
      const head = linearHead({
        numClasses: task.classes.length,
        kind: task.kind,
        classes: task.classes,
      });
      const classifier = args.weights
        ? createClassifierFromTorch(await readSafetensors(args.weights), { head })
        : createClassifier({
            backbone: densenet({
              growthRate: 12,
              blockConfig: [2, 2, 2, 2],
              numInitFeatures: 16,
              bnSize: 4,
            }),
            head,
          });

      // 3. Adapt with the method, on the support set only.
      const adapted = await adaptClassifier({
        method,
        classifier,
        task,
        support: { dataRoot, samples: support.samples },
        preprocessing: { imageSize },
        epochs: 5,
        seed: experiment,
      });

      // 4. Score the evaluation set and compute the task's metrics.
      const evaluationLoader = createLoader({
        samples: evaluation.samples,
        dataRoot,
        imageSize,
        batchSize: 16,
      });
      const { metrics } = await evaluateModel(task, evaluationLoader, (images) =>
        adapted.model.predictScores(images),
      );
      results.push({ method, shot, experiment, ...metrics });
      adapted.model.dispose();
      classifier.dispose();
    }
  }
}

// 5. One line per method: the challenge score over shots × experiments, and its parts.
for (const method of methods) {
  const rows = results.filter((row) => row.method === method) as unknown as Parameters<
    typeof challengeScore
  >[0];
  const score = challengeScore(rows.map((row) => ({ ...row, task: task.name as "endo" })));
  const parts = Object.entries(score.perTask[task.name as "endo"] ?? {})
    .map(([metric, value]) => `${metric} ${(value * 100).toFixed(2)}`)
    .join("  ");
  console.log(`${method.padEnd(14)} score ${(score.score * 100).toFixed(2)}  (${parts})`);
}
