import type { GridReport } from "@medfm/grid";
import { escapeHtml } from "./svg-chart";

const percent = (value: number) => (value * 100).toFixed(2);

/**
 * A grid's results as HTML: one table per variant (method, seed, settings, sizes) and task,
 * a row per shot with each metric's mean ± std over experiments (in percent) and the number of
 * experiments, then each variant's challenge score or why it is not complete yet.
 */
export function gridReportSection(report: GridReport): string {
  if (report.tables.length === 0) return "<p>No finished grid jobs.</p>";
  const tables = report.tables.map((table) => {
    const metrics = [
      ...new Set(table.shots.flatMap((shot) => shot.cells.map((cell) => cell.metric))),
    ];
    const header = `<tr><th>shots</th>${metrics.map((metric) => `<th>${escapeHtml(metric)}</th>`).join("")}<th>experiments</th></tr>`;
    const rows = table.shots
      .map((shot) => {
        const cells = metrics.map((metric) => {
          const cell = shot.cells.find((item) => item.metric === metric);
          return `<td>${cell ? `${percent(cell.mean)} ± ${percent(cell.std)}` : "-"}</td>`;
        });
        return `<tr><td>${shot.shot}</td>${cells.join("")}<td>${shot.cells[0]?.count ?? 0}</td></tr>`;
      })
      .join("");
    return `<h3>${escapeHtml(table.task)} — ${escapeHtml(table.variant)}</h3><table class="grid"><thead>${header}</thead><tbody>${rows}</tbody></table>`;
  });
  const scores = report.scores
    .map((entry) =>
      entry.score
        ? `<li>${escapeHtml(entry.variant)}: <b>${percent(entry.score.score)}</b> (${entry.score.count} values)</li>`
        : `<li>${escapeHtml(entry.variant)}: not yet, ${escapeHtml(entry.incomplete ?? "")}</li>`,
    )
    .join("");
  return `${tables.join("\n")}<h3>Challenge score</h3><ul class="scores">${scores}</ul>`;
}

/** A self-contained HTML page of a grid's results ({@link gridReportSection}). */
export function renderGridReport(report: GridReport, title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:22px}h3{font-size:15px;margin-top:22px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
${gridReportSection(report)}
</body></html>
`;
}
