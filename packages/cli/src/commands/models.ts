import { basename } from "node:path";
import {
  type Classifier,
  createClassifierFromTorch,
  detectTorchBackbone,
  linearHead,
  listBackbones,
  loadClassifier,
  readSafetensors,
  saveClassifier,
} from "@medfm/models";
import { type Command, Option } from "commander";
import { seedOption } from "../parse-number";
import { registerModelsPullCommand } from "./models-pull";

/** Checkpoint conventions `medfm models convert` reads. */
const sources = ["torchvision", "timm"] as const;

interface ConvertOptions {
  from: (typeof sources)[number];
  input: string;
  output: string;
  task: "multi-label" | "multi-class";
  classes?: string;
  seed: number;
  json?: boolean;
}

function writerOf(command: Command): (text: string) => void {
  const output = command.configureOutput();
  return output.writeOut ?? ((text: string) => process.stdout.write(text));
}

function parameterCount(model: Classifier): number {
  const state = model.stateDict();
  let total = 0;
  for (const [key, tensor] of state) {
    if (!/running_(mean|var)$|num_batches_tracked$/.test(key)) total += tensor.size;
    tensor.dispose();
  }
  return total;
}

/** A short description of a classifier for `info` and `convert` output. */
function describeModel(model: Classifier) {
  const head = model.head.metadata();
  return {
    backbone: model.backbone.name,
    features: model.backbone.numFeatures,
    parameters: parameterCount(model),
    head: head.type,
    task: head.task,
    numClasses: head.numClasses,
    ...(head.classes ? { classes: head.classes } : {}),
  };
}

function parseClasses(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const classes = text.split(",").map((name) => name.trim());
  if (classes.some((name) => name.length === 0)) {
    throw new Error(`--classes: empty class name in ${JSON.stringify(text)}`);
  }
  return classes;
}

/** Registers `medfm models` and its subcommands. */
export function registerModelsCommand(program: Command): void {
  const models = program
    .command("models")
    .description("List backbones, convert and inspect classifiers");

  models
    .command("list")
    .description("List the registered backbones and their presets (the --backbone choices)")
    .option("--json", "print the result as JSON")
    .action((options: { json?: boolean }, command: Command) => {
      const write = writerOf(command);
      const backbones = listBackbones().map((spec) => ({
        type: spec.type,
        presets: spec.presets.map((preset) => ({
          name: preset.name,
          description: preset.description,
        })),
        preprocessing: spec.preprocessing,
      }));
      if (options.json) {
        write(`${JSON.stringify(backbones, null, 2)}\n`);
        return;
      }
      for (const backbone of backbones) {
        const { mean, std, inputSize } = backbone.preprocessing;
        write(`${backbone.type} (${inputSize} px, mean ${mean.join("/")}, std ${std.join("/")})\n`);
        for (const preset of backbone.presets) {
          write(`  ${preset.name.padEnd(18)} ${preset.description}\n`);
        }
      }
    });

  models
    .command("convert")
    .description(
      "Convert a torchvision or timm .safetensors state dict of a registered backbone to a MedFM.js model directory (model.json + weights.bin)",
    )
    .addOption(
      new Option("--from <source>", "checkpoint convention").choices(sources).makeOptionMandatory(),
    )
    .requiredOption("--input <file>", "the .safetensors state dict")
    .requiredOption("--output <dir>", "directory to write model.json and weights.bin into")
    .addOption(
      new Option("--task <kind>", "head type recorded with the model")
        .choices(["multi-label", "multi-class"])
        .default("multi-class"),
    )
    .option(
      "--classes <names>",
      "comma-separated class names; a count other than the checkpoint's keeps the backbone and starts a new linear head",
    )
    .option("--seed <n>", "seed of a new head's initialisation", seedOption, 0)
    .option("--json", "print the result as JSON")
    .action(async (options: ConvertOptions, command: Command) => {
      const write = writerOf(command);
      const classes = parseClasses(options.classes);
      const seed = options.seed;
      const file = await readSafetensors(options.input);
      const { numClasses } = detectTorchBackbone(file, options.input);
      const newHead = classes !== undefined && classes.length !== numClasses;
      const model = createClassifierFromTorch(file, {
        source: options.input,
        task: options.task,
        classes,
        ...(newHead
          ? { head: linearHead({ numClasses: classes.length, kind: options.task, classes, seed }) }
          : {}),
      });
      try {
        const path = await saveClassifier(model, options.output, {
          convertedBy: `${options.from}: ${basename(options.input)}`,
        });
        const summary = { ...describeModel(model), newHead, modelJson: path };
        if (options.json) {
          write(`${JSON.stringify(summary, null, 2)}\n`);
          return;
        }
        write(
          `Converted ${summary.backbone} (${summary.parameters.toLocaleString("en-US")} parameters, ${summary.features} features) from ${options.input}\n`,
        );
        write(
          newHead
            ? `New ${summary.task} linear head for ${summary.numClasses} classes (the checkpoint's ${numClasses}-class classifier was not loaded)\n`
            : `Head: ${summary.task} linear, ${summary.numClasses} classes\n`,
        );
        write(`Wrote ${path}\n`);
      } finally {
        model.dispose();
      }
    });

  models
    .command("info")
    .description("Describe a MedFM.js model directory (or its model.json)")
    .argument("<path>", "model directory or model.json")
    .option("--json", "print the result as JSON")
    .action(async (path: string, options: { json?: boolean }, command: Command) => {
      const write = writerOf(command);
      const model = await loadClassifier(path);
      try {
        const summary = describeModel(model);
        if (options.json) {
          write(`${JSON.stringify(summary, null, 2)}\n`);
          return;
        }
        write(
          `${summary.backbone}: ${summary.parameters.toLocaleString("en-US")} parameters, ${summary.features} features\n`,
        );
        write(`head: ${summary.head}, ${summary.task}, ${summary.numClasses} classes`);
        write(summary.classes ? ` (${summary.classes.join(", ")})\n` : "\n");
      } finally {
        model.dispose();
      }
    });
  registerModelsPullCommand(models);
}
