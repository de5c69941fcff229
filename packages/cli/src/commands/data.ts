import { mkdir, writeFile } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import {
  AnnotationError,
  type AnnotationFormat,
  type AnnotationFormatOption,
  type AnnotationIssue,
  type AnnotationSet,
  annotationFormats,
  annotationStats,
  cardinalitySvg,
  checkLeakage,
  classCountsSvg,
  compareSplits,
  coOccurrenceSvg,
  defineTask,
  formatLeakageReport,
  getTask,
  type MedfmTask,
  readAnnotationFile,
  type Sample,
  sampleFewShot,
  splitComparisonSvg,
  splitReport,
  stratifiedKFold,
  trainValSplit,
  writeAnnotationFile,
  writeFewShotFiles,
} from "@medfm/data";
import { type Command, Option } from "commander";
import { integerOption, numberOption, seedOption } from "../parse-number";

/** Options every `medfm data` subcommand shares. */
interface CommonOptions {
  task?: string;
  classes?: string;
  kind?: "multi-label" | "multi-class";
  ann: string[];
  format: AnnotationFormatOption;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function addCommonOptions(command: Command, annotationHelp: string): Command {
  return command
    .option("--task <task>", "MedFM task: chest, colon or endo (or a name for --classes)")
    .option("--classes <names>", "comma-separated class names of a custom task")
    .addOption(
      new Option("--kind <kind>", "head type of a custom task")
        .choices(["multi-label", "multi-class"])
        .default("multi-label"),
    )
    .option("--ann <file>", annotationHelp, collect, [])
    .addOption(
      new Option("--format <format>", "annotation format of the input")
        .choices(["auto", "medfmc", ...annotationFormats])
        .default("auto"),
    )
    .option("--json", "print the result as JSON");
}

function resolveTask(options: CommonOptions): MedfmTask {
  if (options.classes) {
    return defineTask({
      name: options.task ?? "custom",
      classes: options.classes.split(",").map((name) => name.trim()),
      kind: options.kind ?? "multi-label",
    });
  }
  if (!options.task)
    throw new Error("give --task chest|colon|endo, or --classes for a custom task");
  return getTask(options.task);
}

function requireAnnotations(options: CommonOptions, most?: number): string[] {
  if (options.ann.length === 0) throw new Error("give at least one --ann FILE");
  if (most !== undefined && options.ann.length > most) {
    throw new Error(
      `give at most ${most} --ann file${most === 1 ? "" : "s"}, got ${options.ann.length}`,
    );
  }
  return options.ann;
}

/** Reads every file, collecting the problems of all of them into one AnnotationError. */
async function readAll(
  files: readonly string[],
  task: MedfmTask,
  options: {
    format: AnnotationFormatOption;
    dataRoot?: string;
    followSymlinks?: boolean;
    strict?: boolean;
    groupColumn?: string;
  },
): Promise<AnnotationSet[]> {
  const sets: AnnotationSet[] = [];
  const issues: AnnotationIssue[] = [];
  for (const file of files) {
    try {
      sets.push(
        await readAnnotationFile(file, {
          task,
          format: options.format,
          ...(options.dataRoot !== undefined ? { dataRoot: options.dataRoot } : {}),
          ...(options.followSymlinks ? { followSymlinks: true } : {}),
          ...(options.strict ? { strict: true } : {}),
          ...(options.groupColumn ? { groupColumn: options.groupColumn } : {}),
        }),
      );
    } catch (error) {
      if (!AnnotationError.isInstance(error)) throw error;
      // One push per issue: `push(...issues)` overflows the stack for a few 100k of them.
      for (const issue of error.issues) issues.push(issue);
    }
  }
  if (issues.length > 0) throw new AnnotationError(issues);
  return sets;
}

function labelledSamples(set: AnnotationSet): Sample[] {
  if (!set.labelled)
    throw new Error(`${set.file}: has no labels (a name-only list such as test_WithoutLabel.txt)`);
  return set.samples;
}

function writerOf(command: Command): (text: string) => void {
  const output = command.configureOutput();
  return output.writeOut ?? ((text: string) => process.stdout.write(text));
}

function printJson(command: Command, value: unknown): void {
  writerOf(command)(`${JSON.stringify(value, null, 2)}\n`);
}

/** Length of the longest name (a loop: a spread of many names overflows the stack). */
function longestLength(names: readonly string[]): number {
  let longest = 0;
  for (const name of names) longest = Math.max(longest, name.length);
  return longest;
}

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;

function parseInteger(name: string, text: string, minimum: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum) {
    throw new Error(`${name} must be an integer >= ${minimum}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function outputFormatFor(path: string, requested?: string): AnnotationFormat | "medfmc" {
  if (requested && requested !== "auto") return requested as AnnotationFormat | "medfmc";
  const extension = extname(path).toLowerCase();
  if (extension === ".json") return "mmpretrain-json";
  if (extension === ".csv") return "csv";
  return "medfmc";
}

function registerStats(data: Command): void {
  addCommonOptions(
    data
      .command("stats")
      .description(
        "Per-class counts, labels per image, co-occurrence; several --ann compares them",
      ),
    "annotation file (repeat to compare lists, e.g. train, val, test)",
  )
    .option(
      "--svg <folder>",
      "also write SVG charts (class counts, labels per image, co-occurrence) there",
    )
    .action(async (options: CommonOptions & { svg?: string }, command: Command) => {
      const task = resolveTask(options);
      const files = requireAnnotations(options);
      const sets = await readAll(files, task, options);
      const results = sets.map((set) => ({
        file: set.file,
        format: set.format,
        ...annotationStats(labelledSamples(set), { task }),
        warnings: set.warnings.length,
      }));
      const comparison =
        sets.length > 1
          ? compareSplits(
              sets.map((set) => ({ name: basename(set.file), samples: set.samples })),
              { task },
            )
          : undefined;
      const written: string[] = [];
      if (options.svg) {
        await mkdir(options.svg, { recursive: true });
        for (const result of results) {
          const stem = sets.length > 1 ? `${basename(result.file, extname(result.file))}-` : "";
          const charts: Array<[string, string]> = [
            [
              `${stem}class-counts.svg`,
              classCountsSvg(result, {
                title: `${basename(result.file)}: positives per class (${result.count} images)`,
              }),
            ],
            [
              `${stem}labels-per-image.svg`,
              cardinalitySvg(result, { title: `${basename(result.file)}: labels per image` }),
            ],
            [
              `${stem}co-occurrence.svg`,
              coOccurrenceSvg(result, { title: `${basename(result.file)}: label co-occurrence` }),
            ],
          ];
          if (task.kind === "multi-class") charts.splice(1, 2);
          for (const [name, svg] of charts) {
            await writeFile(join(options.svg, name), svg);
            written.push(join(options.svg, name));
          }
        }
        if (comparison) {
          await writeFile(
            join(options.svg, "split-comparison.svg"),
            splitComparisonSvg(comparison),
          );
          written.push(join(options.svg, "split-comparison.svg"));
        }
      }
      if (options.json) {
        const single = results.length === 1 ? results[0] : undefined;
        printJson(
          command,
          single
            ? { ...single, ...(written.length ? { svg: written } : {}) }
            : { lists: results, comparison, ...(written.length ? { svg: written } : {}) },
        );
        return;
      }
      const lines: string[] = [];
      for (const result of results) {
        const width = longestLength(result.classes);
        lines.push(
          `${result.file} (${result.format}): ${result.count} samples, ${result.distinct} distinct, ${result.duplicates} duplicate lines${result.groups !== undefined ? `, ${result.groups} groups` : ""}`,
          `labels per image: mean ${result.cardinality.mean.toFixed(3)}, histogram ${result.cardinality.histogram.map((count, labels) => `${labels}:${count}`).join(" ")}`,
        );
        result.classes.forEach((name, index) => {
          lines.push(
            `  ${name.padEnd(width)}  ${String(result.positives[index]).padStart(6)}  ${percent(result.count ? result.positives[index] / result.count : 0).padStart(6)}`,
          );
        });
        lines.push("");
      }
      if (comparison) {
        lines.push(
          `largest share gap: ${comparison.maxShareGap.className} ${percent(comparison.maxShareGap.value)} (${comparison.maxShareGap.between.join(" vs ")})`,
        );
        if (comparison.missing.length > 0)
          lines.push(`classes without a positive: ${comparison.missing.join("; ")}`);
      }
      for (const path of written) lines.push(`wrote ${path}`);
      writerOf(command)(`${lines.join("\n").trimEnd()}\n`);
    });
}

function registerCheck(data: Command): void {
  addCommonOptions(
    data
      .command("check")
      .description(
        "Validate annotation files and report duplicates and train/val/test overlap by name and group",
      ),
    "annotation file (repeat: train, val, test...)",
  )
    .option(
      "--data-root <folder>",
      "also check that every image is a file under this folder (symlinks leading outside it and directories are refused)",
    )
    .option("--follow-symlinks", "with --data-root: accept symlinks that lead outside it")
    .option("--strict", "treat BOM, CRLF and identical duplicate lines as errors")
    .option("--group-column <column>", "CSV column holding the group (patient) id")
    .option("--fail-on-leakage", "exit non-zero when duplicates or overlaps are found")
    .action(
      async (
        options: CommonOptions & {
          dataRoot?: string;
          followSymlinks?: boolean;
          strict?: boolean;
          groupColumn?: string;
          failOnLeakage?: boolean;
        },
        command: Command,
      ) => {
        const task = resolveTask(options);
        const files = requireAnnotations(options);
        const sets = await readAll(files, task, options);
        const report = checkLeakage(
          sets.map((set) => ({ name: set.file, samples: set.samples })),
          { groupKey: task.groupKey },
        );
        const summary = {
          task: task.name,
          files: sets.map((set) => ({
            file: set.file,
            format: set.format,
            count: set.samples.length,
            labelled: set.labelled,
            warnings: set.warnings.map(
              (warning) => `${warning.file}:${warning.line}: ${warning.message}`,
            ),
          })),
          imagesChecked: options.dataRoot !== undefined,
          duplicates: {
            count: report.duplicates.reduce((sum, finding) => sum + finding.count, 0),
            findings: report.duplicates,
          },
          overlap: {
            count: report.overlap.reduce((sum, finding) => sum + finding.count, 0),
            findings: report.overlap,
          },
          groupOverlap: {
            count: report.groupOverlap.reduce((sum, finding) => sum + finding.count, 0),
            checked: report.groupsChecked,
            findings: report.groupOverlap,
          },
          clean: report.clean,
        };
        if (options.json) printJson(command, summary);
        else {
          const head = summary.files.map(
            (file) =>
              `${file.file}: ${file.count} samples (${file.format})${file.warnings.length ? `, ${file.warnings.length} warnings` : ""}`,
          );
          writerOf(command)(`${head.join("\n")}\n${formatLeakageReport(report)}`);
        }
        if (options.failOnLeakage && !report.clean) {
          throw new Error(
            `leakage found: ${summary.duplicates.count} duplicate lines, ${summary.overlap.count} shared names, ${summary.groupOverlap.count} shared groups`,
          );
        }
      },
    );
}

function registerSplit(data: Command): void {
  addCommonOptions(
    data
      .command("split")
      .description(
        "Stratified (iterative for multi-label) k-fold or train/val split, optionally grouped",
      ),
    "the annotation file to split (e.g. trainval.txt)",
  )
    .requiredOption("--out <folder>", "folder for the split files")
    .option("--folds <k>", "number of folds (k-fold split)", integerOption({ min: 2 }))
    .option(
      "--val-fraction <fraction>",
      "share of samples in val (train/val split)",
      numberOption({ above: 0, below: 1 }),
      0.2,
    )
    .option("--seed <seed>", "random seed", seedOption, 0)
    .option(
      "--group",
      "keep each group (colon patient, endo study, CSV --group-column) in one part",
    )
    .option("--group-column <column>", "CSV column holding the group id")
    .option(
      "--out-format <format>",
      "format of the written files (default: the task's MedFMC text)",
      "medfmc",
    )
    .action(
      async (
        options: CommonOptions & {
          out: string;
          folds?: number;
          valFraction: number;
          seed: number;
          group?: boolean;
          groupColumn?: string;
          outFormat: string;
        },
        command: Command,
      ) => {
        const task = resolveTask(options);
        const [file] = requireAnnotations(options, 1);
        const [set] = await readAll([file], task, options);
        const samples = labelledSamples(set);
        const group = options.group ? true : undefined;
        // Split files of earlier versions hashed the seed's text ("0"): keep it, so they reproduce.
        const seed = String(options.seed);
        const outFormat = outputFormatFor(`x.${options.outFormat}`, options.outFormat);
        const extension =
          outFormat === "mmpretrain-json" ? ".json" : outFormat === "csv" ? ".csv" : ".txt";
        const stem = basename(file, extname(file));
        const parts: Array<{ name: string; path: string; samples: Sample[] }> = [];
        let proportions: number[];
        let reportParts: Array<{ name: string; samples: Sample[] }>;
        if (options.folds !== undefined) {
          const folds = stratifiedKFold(samples, {
            folds: options.folds,
            seed,
            ...(group ? { group } : {}),
          });
          for (const fold of folds) {
            for (const part of ["train", "val"] as const) {
              const name = `${stem}_fold${fold.index + 1}_${part}`;
              parts.push({
                name,
                path: join(options.out, `${name}${extension}`),
                samples: fold[part],
              });
            }
          }
          proportions = folds.map(() => 1 / folds.length);
          reportParts = folds.map((fold) => ({ name: `fold${fold.index + 1}`, samples: fold.val }));
        } else {
          const valFraction = options.valFraction;
          const split = trainValSplit(samples, { valFraction, seed, ...(group ? { group } : {}) });
          parts.push(
            {
              name: `${stem}_train`,
              path: join(options.out, `${stem}_train${extension}`),
              samples: split.train,
            },
            {
              name: `${stem}_val`,
              path: join(options.out, `${stem}_val${extension}`),
              samples: split.val,
            },
          );
          proportions = [1 - valFraction, valFraction];
          reportParts = [
            { name: "train", samples: split.train },
            { name: "val", samples: split.val },
          ];
        }
        for (const part of parts) {
          await writeAnnotationFile(part.path, part.samples, { task, format: outFormat });
        }
        const report = splitReport(reportParts, { classes: task.classes, proportions });
        const result = {
          task: task.name,
          source: file,
          seed,
          grouped: Boolean(group),
          files: parts.map((part) => ({ path: part.path, count: part.samples.length })),
          report,
        };
        if (options.json) {
          printJson(command, result);
          return;
        }
        const width = longestLength(task.classes);
        const lines = [
          ...result.files.map((entry) => `wrote ${entry.path} (${entry.count})`),
          "",
          `${"class".padEnd(width)}  ${report.parts.map((part) => part.name.padStart(7)).join(" ")}   total`,
          ...task.classes.map(
            (name, index) =>
              `${name.padEnd(width)}  ${report.parts.map((part) => String(part.positives[index]).padStart(7)).join(" ")}  ${String(report.overall.positives[index]).padStart(6)}`,
          ),
          "",
          `largest deviation: ${percent(report.maxDeviation.value)} (${report.maxDeviation.className} in ${report.maxDeviation.part}), ${report.maxCountDeviation.value.toFixed(1)} samples`,
        ];
        writerOf(command)(`${lines.join("\n")}\n`);
      },
    );
}

function registerFewShot(data: Command): void {
  addCommonOptions(
    data
      .command("fewshot")
      .description(
        "Draw MedFM K-shot train/val files (K images, patients or studies per class) from a labelled pool",
      ),
    "the labelled pool (e.g. trainval.txt)",
  )
    .requiredOption("--out <folder>", "folder for {task}_{K}-shot_{train|val}_exp{N}.txt")
    .option("--shots <list>", "comma-separated K values", "1,5,10")
    .option("--experiments <n>", "experiments per K", integerOption({ min: 1 }), 5)
    .option("--seed <seed>", "random seed", seedOption, 0)
    .addOption(
      new Option(
        "--val <mode>",
        "val set: images of groups never drawn, or every image not in train",
      )
        .choices(["disjoint-groups", "rest"])
        .default("disjoint-groups"),
    )
    .addOption(
      new Option("--take <mode>", "images of a drawn group: those positive for its class, or all")
        .choices(["positive", "all"])
        .default("positive"),
    )
    .action(
      async (
        options: CommonOptions & {
          out: string;
          shots: string;
          experiments: number;
          seed: number;
          val: "disjoint-groups" | "rest";
          take: "positive" | "all";
        },
        command: Command,
      ) => {
        const task = resolveTask(options);
        const [file] = requireAnnotations(options, 1);
        const [set] = await readAll([file], task, options);
        const samples = labelledSamples(set);
        const shotsList = options.shots
          .split(",")
          .map((text) => parseInteger("--shots", text.trim(), 1));
        const experiments = options.experiments;
        const results = [];
        for (const shots of shotsList) {
          const drawn = sampleFewShot(samples, {
            shots,
            experiments,
            // As in split: the seed's text, which earlier versions hashed.
            seed: String(options.seed),
            classes: task.classes,
            val: options.val,
            take: options.take,
          });
          const paths = await writeFewShotFiles(options.out, task, shots, drawn);
          for (let index = 0; index < drawn.length; index += 1) {
            const experiment = drawn[index];
            results.push({
              shots,
              experiment: experiment.experiment,
              train: { path: paths[2 * index], count: experiment.train.length },
              val: { path: paths[2 * index + 1], count: experiment.val.length },
              units: experiment.units,
              shortfalls: experiment.shortfalls,
              excluded: experiment.excluded.length,
              droppedDuplicates: experiment.droppedDuplicates,
              warnings:
                experiment.val.length === 0
                  ? [
                      options.val === "rest"
                        ? "val is empty: every image is in train"
                        : "val is empty: every group was drawn (--val rest keeps the other images of drawn groups)",
                    ]
                  : [],
            });
          }
        }
        if (options.json) {
          printJson(command, {
            task: task.name,
            source: file,
            seed: options.seed,
            experiments: results,
          });
          return;
        }
        const grouped = samples.every((sample) => sample.group !== undefined);
        const lines = results.map(
          (result) =>
            `${basename(result.train.path)}: ${result.train.count} images (${result.units} ${grouped ? "groups" : "images"} drawn); val ${result.val.count}${result.excluded ? `; ${result.excluded} other images of drawn groups left out` : ""}${result.shortfalls.length ? `; short: ${result.shortfalls.map((item) => `${item.className} ${item.got}/${item.wanted}`).join(", ")}` : ""}${result.warnings.map((warning) => `; WARNING ${warning}`).join("")}`,
        );
        writerOf(command)(
          `${lines.join("\n")}\nwrote ${results.length * 2} files to ${options.out}\n`,
        );
      },
    );
}

function registerConvert(data: Command): void {
  addCommonOptions(
    data
      .command("convert")
      .description("Convert between MedFMC text, mmpretrain JSON, path-label lists and CSV"),
    "the input annotation file",
  )
    .requiredOption(
      "--out <file>",
      "output file (.json: mmpretrain, .csv: CSV, otherwise the task's MedFMC text)",
    )
    .addOption(
      new Option("--to <format>", "output format (default: from the --out extension)").choices([
        "medfmc",
        ...annotationFormats,
      ]),
    )
    .action(async (options: CommonOptions & { out: string; to?: string }, command: Command) => {
      const task = resolveTask(options);
      const [file] = requireAnnotations(options, 1);
      const [set] = await readAll([file], task, options);
      const to = outputFormatFor(options.out, options.to);
      if (!set.labelled && to !== "medfmc-names") {
        throw new Error(
          `${file}: has no labels; only --to medfmc-names can be written from a name-only list`,
        );
      }
      await writeAnnotationFile(options.out, set.samples, { task, format: to });
      const result = {
        input: file,
        from: set.format,
        output: options.out,
        to,
        count: set.samples.length,
      };
      if (options.json) printJson(command, result);
      else
        writerOf(command)(
          `${file} (${set.format}) -> ${options.out} (${to}): ${set.samples.length} samples\n`,
        );
    });
}

/** Registers `medfm data` and its subcommands: stats, check, split, fewshot, convert. */
export function registerDataCommand(program: Command): void {
  const data = program
    .command("data")
    .description(
      "Annotation tools: statistics, validation and leakage checks, splits, K-shot sampling, conversion",
    );
  registerStats(data);
  registerCheck(data);
  registerSplit(data);
  registerFewShot(data);
  registerConvert(data);
}
