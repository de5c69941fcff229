import {
  type ChallengeResult,
  type ChallengeScore,
  challengeScore,
  ResultsTableError,
} from "@medfm/metrics";
import type { GridJobResult } from "./grid-job";

/** Mean and sample standard deviation of one metric over a shot's experiments. */
export interface GridReportCell {
  metric: string;
  mean: number;
  std: number;
  /** How many results were averaged. */
  count: number;
}

/**
 * The results of one variant (everything in a configuration but task, shot and experiment:
 * method, seed, settings, epochs...) on one task.
 */
export interface GridReportTable {
  /** Like `linear-probe seed=0 lr=0.01`. */
  variant: string;
  task: string;
  shots: Array<{ shot: number; cells: GridReportCell[] }>;
}

/** A variant's challenge score over its tasks, or why it cannot be computed yet. */
export interface GridReportScore {
  variant: string;
  score?: ChallengeScore;
  /** Set when the variant's table is incomplete (missing shots or experiments). */
  incomplete?: string;
}

/** What {@link gridReport} returns. */
export interface GridReport {
  tables: GridReportTable[];
  scores: GridReportScore[];
}

function meanAndStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance =
    values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance) };
}

/** The label of a result's variant: its method, seed, settings and non-default sizes. */
function variantOf(result: GridJobResult): string {
  const { config } = result;
  const settings = Object.entries(config.settings)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => ` ${key}=${value}`)
    .join("");
  const extras = [
    `image=${config.imageSize}`,
    `batch=${config.batchSize}`,
    `epochs=${config.epochs}`,
    ...(config.weights ? [`weights=${config.weights}`] : []),
  ].join(" ");
  return `${config.method} seed=${config.seed}${settings} ${extras}`;
}

/**
 * The MedFM results table from finished grid jobs: per variant, task and shot, the mean ± std
 * of each metric over experiments, and per variant the challenge score (@medfm/metrics'
 * `challengeScore`) once its table is complete.
 */
export function gridReport(results: readonly GridJobResult[]): GridReport {
  const byVariant = new Map<string, GridJobResult[]>();
  for (const result of results) {
    const variant = variantOf(result);
    byVariant.set(variant, [...(byVariant.get(variant) ?? []), result]);
  }
  const tables: GridReportTable[] = [];
  const scores: GridReportScore[] = [];
  for (const [variant, variantResults] of [...byVariant].sort(([a], [b]) => a.localeCompare(b))) {
    const tasks = [...new Set(variantResults.map((result) => result.config.task))].sort();
    for (const task of tasks) {
      const taskResults = variantResults.filter((result) => result.config.task === task);
      const shots = [...new Set(taskResults.map((result) => result.config.shot))].sort(
        (a, b) => a - b,
      );
      tables.push({
        variant,
        task,
        shots: shots.map((shot) => {
          const shotResults = taskResults.filter((result) => result.config.shot === shot);
          const metrics = [
            ...new Set(shotResults.flatMap((result) => Object.keys(result.metrics))),
          ];
          return {
            shot,
            cells: metrics.map((metric) => {
              const values = shotResults
                .map((result) => result.metrics[metric])
                .filter((value) => typeof value === "number");
              return { metric, ...meanAndStd(values), count: values.length };
            }),
          };
        }),
      });
    }
    const rows: ChallengeResult[] = variantResults.map((result) => ({
      task: result.config.task,
      shot: result.config.shot,
      experiment: result.config.experiment,
      ...result.metrics,
    }));
    try {
      scores.push({ variant, score: challengeScore(rows) });
    } catch (error) {
      if (!ResultsTableError.isInstance(error)) throw error;
      scores.push({ variant, incomplete: (error as Error).message });
    }
  }
  return { tables, scores };
}

/** A {@link GridReport} as Markdown-style text, in percent like `medfm fewshot` prints. */
export function formatGridReport(report: GridReport): string {
  const lines: string[] = [];
  for (const table of report.tables) {
    const metrics = [
      ...new Set(table.shots.flatMap((shot) => shot.cells.map((cell) => cell.metric))),
    ];
    lines.push(`${table.task} — ${table.variant}`);
    lines.push(`| shots | ${metrics.join(" | ")} | n |`);
    lines.push(`|---|${metrics.map(() => "---").join("|")}|---|`);
    for (const shot of table.shots) {
      const cells = metrics.map((metric) => {
        const cell = shot.cells.find((item) => item.metric === metric);
        return cell ? `${(cell.mean * 100).toFixed(2)} ± ${(cell.std * 100).toFixed(2)}` : "-";
      });
      lines.push(`| ${shot.shot} | ${cells.join(" | ")} | ${shot.cells[0]?.count ?? 0} |`);
    }
    lines.push("");
  }
  for (const entry of report.scores) {
    lines.push(
      entry.score
        ? `Challenge score (${entry.variant}, ${entry.score.count} values): ${(entry.score.score * 100).toFixed(2)}`
        : `Challenge score (${entry.variant}): not yet, ${entry.incomplete}`,
    );
  }
  return lines.join("\n");
}
