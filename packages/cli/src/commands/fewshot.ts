import { adaptationMethods, type BackendName, backendNames } from "@medfm/models";
import { type Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_FEWSHOT_IMAGE_SIZE, runFewShot } from "../fewshot/run-fewshot";
import { integerOption, numberOption, seedOption } from "../parse-number";
import { backboneNames, DEFAULT_BACKBONE } from "../train/build-classifier";

/** Parses `1,5,10` or `1-5` (or a mix, `1-3,5`) into sorted unique positive integers. */
export function parseIntegerList(value: string): number[] {
  const numbers = new Set<number>();
  for (const part of value.split(",")) {
    const range = part.trim().match(/^(\d+)(?:-(\d+))?$/);
    if (!range)
      throw new InvalidArgumentError(
        `expected numbers like 1,5,10 or 1-5, got ${JSON.stringify(value)}`,
      );
    const [low, high] = [Number(range[1]), Number(range[2] ?? range[1])];
    if (low < 1 || high < low) throw new InvalidArgumentError(`bad range ${part} in ${value}`);
    for (let n = low; n <= high; n += 1) numbers.add(n);
  }
  return [...numbers].sort((a, b) => a - b);
}

/** Registers `medfm fewshot`. */
export function registerFewShotCommand(program: Command): void {
  program
    .command("fewshot")
    .description(
      "Run the MedFM few-shot protocol: adapt on each K-shot file, evaluate, print mean ± std per shot and the challenge score",
    )
    .addOption(
      new Option("--task <task>", "MedFM task")
        .choices(["chest", "colon", "endo"])
        .makeOptionMandatory(),
    )
    .option(
      "--data-root <dir>",
      "folder the annotation names are relative to (omit: a synthetic dataset)",
    )
    .option("--anns <dir>", "folder with {task}_{K}-shot_{train|val}_exp{E}.txt files")
    .option("--shots <list>", "shot counts", parseIntegerList, [1, 5, 10])
    .option("--exps <list>", "experiments", parseIntegerList, [1, 2, 3, 4, 5])
    .addOption(
      new Option("--method <method>", "adaptation")
        .choices([...adaptationMethods])
        .default("linear-probe"),
    )
    .addOption(
      new Option(
        "--backbone <name>",
        `backbone preset built when --weights is not given (default: ${DEFAULT_BACKBONE}); with --weights, the preset they must be`,
      ).choices([...backboneNames]),
    )
    .option("--prompts <n>", "vpt: prompt tokens per layer (default 5)", integerOption({ min: 1 }))
    .option("--deep", "vpt: VPT-deep, prompt tokens at every block")
    .option(
      "--weights <path>",
      "pretrained torchvision/timm .safetensors, a saved classifier folder, or a Hugging Face hub repo (org/name[@rev]) or a folder of its files",
    )
    .option("--test-ann <file>", "evaluate every experiment on this list instead of its val file")
    .option(
      "--image-size <n>",
      `input size (default: the --weights' own input size, else ${DEFAULT_FEWSHOT_IMAGE_SIZE})`,
      integerOption({ min: 1 }),
    )
    .option("--batch-size <n>", "batch size", integerOption({ min: 1 }), 8)
    .option("--epochs <n>", "epochs for visual-prompt and finetune", integerOption({ min: 1 }), 10)
    .option(
      "--lr <x>",
      "visual-prompt, vpt, finetune: base learning rate (cosine to 0; default 1e-3)",
      numberOption({ above: 0 }),
    )
    .option(
      "--weight-decay <x>",
      "visual-prompt, vpt, finetune: AdamW weight decay (default 1e-4)",
      numberOption({ min: 0 }),
    )
    .option(
      "--probe-c <x>",
      "linear-probe: inverse regularisation strength, as scikit-learn's C (default 1)",
      numberOption({ above: 0 }),
    )
    .option("--seed <n>", "seed", seedOption, 0)
    .option("--json", "print the results as JSON at the end")
    .addOption(new Option("--backend <name>", "tfjs backend").choices([...backendNames]))
    .action(async (options) => {
      const results = await runFewShot({
        ...options,
        experiments: options.exps,
        learningRate: options.lr,
        backend: options.backend as BackendName | undefined,
        print: options.json ? () => {} : undefined,
      });
      if (options.json) console.log(JSON.stringify(results, null, 2));
    });
}
