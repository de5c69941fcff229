import { readFile, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import {
  annotationStats,
  cardinalitySvg,
  classCountsSvg,
  getTask,
  readAnnotationFile,
} from "@medfm/data";
import { gridJobIdTag, gridReport } from "@medfm/grid";
import { readRun } from "@medfm/track";
import { gridResultsFromRuns, readGridRuns } from "./grid-runs";
import { renderGridReport } from "./render-grid-report";
import {
  type GalleryImage,
  type ReportInput,
  type ReportPredictions,
  renderReport,
} from "./render-report";

/** The run field under which `medfm train` uploads its evaluation predictions (JSON). */
export const predictionsField = "eval/predictions";
/** Run fields under this prefix hold PNG images for the report's gallery. */
export const galleryPrefix = "gradcam/";

/** Options of {@link buildReport}. */
export interface BuildReportOptions {
  /** Where to write the HTML; default `<run folder>/report.html`. */
  output?: string;
  /** Runs root, to resolve a bare run id; default `MEDFM_TRACK_ROOT` or `./.medfm/runs`. */
  root?: string;
}

/**
 * Reads a stored run (folder or id), gathers what it holds — series, stored predictions,
 * the training annotation's label statistics, gallery images — and writes one self-contained
 * HTML report. Returns the report's path.
 */
export async function buildReport(run: string, options: BuildReportOptions = {}): Promise<string> {
  const root = options.root ?? process.env.MEDFM_TRACK_ROOT ?? join(".medfm", "runs");
  const folder = isAbsolute(run) || run.includes("/") ? resolve(run) : resolve(root, run);
  const stored = readRun(folder);
  const input: ReportInput = { run: stored };
  // A grid job's run: the report shows the whole grid's table (its project's runs beside it).
  if (typeof stored.values[gridJobIdTag] === "string")
    input.grid = gridReport(gridResultsFromRuns(readGridRuns(dirname(folder), stored.project)));
  const predictionsFile = stored.files[predictionsField];
  if (predictionsFile) {
    input.predictions = JSON.parse(
      await readFile(predictionsFile.file, "utf8"),
    ) as ReportPredictions;
  }
  const taskName = stored.params.task;
  const trainAnnotation = stored.params.train;
  if (typeof taskName === "string" && typeof trainAnnotation === "string") {
    try {
      const task = getTask(taskName);
      const train = await readAnnotationFile(trainAnnotation, { task });
      const stats = annotationStats(train.samples, { task });
      input.labelCharts = [
        {
          title: "Positives per class",
          svg: classCountsSvg(stats, { title: `Positives per class (${trainAnnotation})` }),
        },
        { title: "Labels per image", svg: cardinalitySvg(stats, { title: "Labels per image" }) },
      ];
    } catch (error) {
      console.warn(`report: label statistics left out: ${(error as Error).message}`);
    }
  }
  const gallery: GalleryImage[] = [];
  for (const [path, file] of Object.entries(stored.files)) {
    if (!path.startsWith(galleryPrefix) || !file.name.endsWith(".png")) continue;
    gallery.push({
      title: file.name,
      caption: path.slice(galleryPrefix.length),
      png: await readFile(file.file),
    });
  }
  input.gallery = gallery;
  const output = options.output ?? join(folder, "report.html");
  await writeFile(output, renderReport(input));
  return output;
}

/** Options of {@link buildGridReport}. */
export interface BuildGridReportOptions {
  /** Where to write the HTML; default `<root>/grid-report.html`. */
  output?: string;
  /** Runs root; default `MEDFM_TRACK_ROOT` or `./.medfm/runs`. */
  root?: string;
  /** Only runs of this project (MLflow experiment); default every grid run. */
  project?: string;
}

/**
 * Writes the HTML results table of the grid jobs stored under a runs root (the runs
 * `medfm grid worker` logs, which carry the job id): per variant and task, mean ± std per shot,
 * and the challenge score. Returns the report's path and how many job results it holds.
 */
export async function buildGridReport(
  options: BuildGridReportOptions = {},
): Promise<{ path: string; results: number }> {
  const root = resolve(options.root ?? process.env.MEDFM_TRACK_ROOT ?? join(".medfm", "runs"));
  const results = gridResultsFromRuns(readGridRuns(root, options.project));
  const output = options.output ?? join(root, "grid-report.html");
  const title = `MedFM.js grid${options.project ? ` ${options.project}` : ""} (${root})`;
  await writeFile(output, renderGridReport(gridReport(results), title));
  return { path: output, results: results.length };
}
