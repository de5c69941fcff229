import type { GridPlan } from "./plan-grid";

/**
 * A plan as a text table, one job a line: id, task, shot, experiment, method, seed and the
 * swept settings as `key=value`, then a count line.
 */
export function formatPlanTable(plan: GridPlan): string {
  const header = ["id", "task", "shot", "exp", "method", "seed", "settings"];
  const rows = plan.jobs.map(({ id, config }) => [
    id,
    config.task,
    String(config.shot),
    String(config.experiment),
    config.method,
    String(config.seed),
    Object.entries(config.settings)
      .map(([key, value]) => `${key}=${value}`)
      .join(" "),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line), `${plan.jobs.length} jobs`].join("\n");
}
