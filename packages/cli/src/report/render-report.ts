import type { TaskKind } from "@medfm/data";
import type { GridReport } from "@medfm/grid";
import {
  accuracy,
  confusionMatrix,
  meanAveragePrecision,
  meanRocAuc,
  precisionRecallCurves,
  rocCurves,
} from "@medfm/metrics";
import type { StoredRun } from "@medfm/track";
import { gridReportSection } from "./render-grid-report";
import { escapeHtml, lineChartSvg } from "./svg-chart";

/** Scores and targets of an evaluation set, as `medfm train` stores them in a run. */
export interface ReportPredictions {
  task: string;
  kind: TaskKind;
  classes: string[];
  names: string[];
  /** Logits, one row per sample. */
  scores: number[][];
  /** 0/1 targets, one row per sample (one-hot for multi-class). */
  targets: number[][];
}

/** An image for the report's gallery (e.g. a Grad-CAM overlay). */
export interface GalleryImage {
  title: string;
  caption: string;
  png: Uint8Array;
}

/** What {@link renderReport} draws. */
export interface ReportInput {
  run: StoredRun;
  predictions?: ReportPredictions;
  /** Label statistics charts as SVG markup (from `@medfm/data`'s chart functions). */
  labelCharts?: ReadonlyArray<{ title: string; svg: string }>;
  gallery?: readonly GalleryImage[];
  /** The results of the grid the run is a job of (`medfm grid worker` runs). */
  grid?: GridReport;
}

const percent = (value: number) => (Number.isFinite(value) ? (value * 100).toFixed(2) : "n/a");

function softmaxRows(rows: number[][]): number[][] {
  return rows.map((row) => {
    const max = Math.max(...row);
    const exps = row.map((value) => Math.exp(value - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((value) => value / sum);
  });
}

function section(title: string, body: string, id: string): string {
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2>${body}</section>`;
}

function trainingCurves(run: StoredRun): string {
  const charts: string[] = [];
  const loss = run.series["train/loss"];
  if (loss?.length) {
    charts.push(
      lineChartSvg({
        title: "Training loss",
        series: [
          { name: "loss per batch", points: loss.map((p) => [p.step, p.value as number] as const) },
        ],
        xLabel: "step",
        yLabel: "loss",
      }),
    );
  }
  const metricPaths = Object.keys(run.series).filter((path) => path.startsWith("val/"));
  if (metricPaths.length) {
    charts.push(
      lineChartSvg({
        title: "Validation metrics per epoch",
        series: metricPaths.map((path) => ({
          name: path.slice(4),
          points: run.series[path].map((p) => [p.step + 1, p.value as number] as const),
        })),
        xLabel: "epoch",
        yLabel: "value",
        yRange: [0, 1],
      }),
    );
  }
  return charts.length
    ? `<div class="charts">${charts.join("")}</div>`
    : "<p>No series were logged.</p>";
}

function perClassSection(predictions: ReportPredictions): string {
  const { classes, kind } = predictions;
  const multiLabel = kind === "multi-label";
  const scores = multiLabel ? predictions.scores : softmaxRows(predictions.scores);
  const auc = meanRocAuc(scores, predictions.targets);
  const ap = multiLabel ? meanAveragePrecision(scores, predictions.targets) : undefined;
  const positives = classes.map((_, c) => predictions.targets.filter((row) => row[c] > 0).length);
  const summary = multiLabel
    ? `mAP ${percent(ap!.value)} · macro AUC ${percent(auc.value)}`
    : `accuracy ${percent(accuracy(predictions.scores, predictions.targets))} · ${classes.length === 2 ? `AUC (positive class) ${percent(auc.perClass[1])}` : `macro AUC ${percent(auc.value)}`}`;
  const rows = classes
    .map(
      (name, c) =>
        `<tr><td>${escapeHtml(name)}</td><td>${positives[c]}</td>${multiLabel ? `<td>${percent(ap!.perClass[c])}</td>` : ""}<td>${percent(auc.perClass[c])}</td></tr>`,
    )
    .join("");
  const notes = [...(ap?.flags ?? []), ...auc.flags]
    .map((flag) => `<li>${escapeHtml(`${classes[flag.classIndex]}: ${flag.note}`)}</li>`)
    .join("");
  return `<p class="summary">${predictions.names.length} samples · ${summary}</p>
<table class="per-class"><thead><tr><th>class</th><th>positives</th>${multiLabel ? "<th>AP</th>" : ""}<th>AUC</th></tr></thead><tbody>${rows}</tbody></table>
${notes ? `<ul class="notes">${notes}</ul>` : ""}`;
}

function curvesSection(predictions: ReportPredictions): string {
  const scores =
    predictions.kind === "multi-label" ? predictions.scores : softmaxRows(predictions.scores);
  const pr = precisionRecallCurves(scores, predictions.targets, { maxPoints: 200 });
  const roc = rocCurves(scores, predictions.targets, { maxPoints: 200 });
  const charts = predictions.classes.flatMap((name, c) => {
    const hasBoth =
      predictions.targets.some((row) => row[c] > 0) &&
      predictions.targets.some((row) => row[c] <= 0);
    if (!hasBoth) return [];
    return [
      lineChartSvg({
        title: `${name}: precision–recall`,
        series: [{ name, points: pr[c].recall.map((r, i) => [r, pr[c].precision[i]] as const) }],
        xLabel: "recall",
        yLabel: "precision",
        xRange: [0, 1],
        yRange: [0, 1],
        width: 300,
        height: 220,
      }),
      lineChartSvg({
        title: `${name}: ROC`,
        series: [
          {
            name,
            points: roc[c].falsePositiveRate.map(
              (f, i) => [f, roc[c].truePositiveRate[i]] as const,
            ),
          },
        ],
        xLabel: "false positive rate",
        yLabel: "true positive rate",
        xRange: [0, 1],
        yRange: [0, 1],
        width: 300,
        height: 220,
        diagonal: true,
      }),
    ];
  });
  return charts.length
    ? `<div class="charts">${charts.join("")}</div>`
    : "<p>No class has both positives and negatives in the evaluation set.</p>";
}

function confusionSection(predictions: ReportPredictions): string {
  const matrix = confusionMatrix(predictions.scores, predictions.targets);
  const max = Math.max(1, ...matrix.counts.flat());
  const header = predictions.classes.map((name) => `<th>${escapeHtml(name)}</th>`).join("");
  const rows = matrix.counts
    .map(
      (row, i) =>
        `<tr><th>${escapeHtml(predictions.classes[i])}</th>${row
          .map(
            (count) =>
              `<td style="background:rgba(31,119,180,${(count / max).toFixed(3)})">${count}</td>`,
          )
          .join("")}</tr>`,
    )
    .join("");
  return `<table class="confusion"><thead><tr><th>true \\ predicted</th>${header}</tr></thead><tbody>${rows}</tbody></table>`;
}

/**
 * Renders a run as one self-contained HTML page (inline CSS and SVG, images as data URIs):
 * parameters, training curves, per-class AP/AUC, PR and ROC curves, the confusion matrix for
 * multi-class tasks, label statistics and an image gallery.
 */
export function renderReport(input: ReportInput): string {
  const { run, predictions } = input;
  const params = Object.entries(run.params)
    .map(
      ([key, value]) => `<tr><td>${escapeHtml(key)}</td><td>${escapeHtml(String(value))}</td></tr>`,
    )
    .join("");
  const sections = [
    section("Parameters", `<table class="params">${params}</table>`, "parameters"),
    section("Training curves", trainingCurves(run), "curves"),
  ];
  if (predictions) {
    sections.push(section("Per-class results", perClassSection(predictions), "per-class"));
    sections.push(section("Precision–recall and ROC curves", curvesSection(predictions), "pr-roc"));
    if (predictions.kind === "multi-class") {
      sections.push(section("Confusion matrix", confusionSection(predictions), "confusion"));
    }
  }
  if (input.grid) sections.push(section("Grid results", gridReportSection(input.grid), "grid"));
  if (input.labelCharts?.length) {
    sections.push(
      section(
        "Label statistics",
        `<div class="charts">${input.labelCharts.map((chart) => chart.svg).join("")}</div>`,
        "labels",
      ),
    );
  }
  if (input.gallery?.length) {
    const figures = input.gallery
      .map(
        (image) =>
          `<figure><img alt="${escapeHtml(image.title)}" src="data:image/png;base64,${Buffer.from(image.png).toString("base64")}"/><figcaption><b>${escapeHtml(image.title)}</b><br>${escapeHtml(image.caption)}</figcaption></figure>`,
      )
      .join("");
    sections.push(section("Grad-CAM gallery", `<div class="gallery">${figures}</div>`, "gallery"));
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MedFM.js run ${escapeHtml(run.id)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:22px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:12px}.summary{font-weight:600}
.gallery{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;width:200px;font-size:12px}figure img{width:200px;image-rendering:pixelated}
</style></head><body>
<h1>Run ${escapeHtml(run.id)} <small>(${escapeHtml(run.project)}, ${escapeHtml(run.status)})</small></h1>
<p>Created ${escapeHtml(run.createdAt.toISOString())}${run.tags.length ? ` · tags: ${escapeHtml(run.tags.join(", "))}` : ""}</p>
${sections.join("\n")}
</body></html>
`;
}
