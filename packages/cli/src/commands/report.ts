import type { Command } from "commander";
import { buildGridReport, buildReport } from "../report/build-report";

/** Registers `medfm report`. */
export function registerReportCommand(program: Command): void {
  program
    .command("report")
    .description(
      "Write one self-contained HTML report of a run: curves, per-class AP/AUC, PR/ROC curves, confusion matrix, label statistics, Grad-CAM gallery, and its grid's table for a grid job; or, with --grid, the table of every grid job under the runs root",
    )
    .argument("[run]", "run folder, or run id under the runs root")
    .option("--output <file>", "HTML file to write (default: <run>/report.html)")
    .option(
      "--root <dir>",
      "runs root for a bare run id (default: MEDFM_TRACK_ROOT or ./.medfm/runs)",
    )
    .option(
      "--grid",
      "report the grid jobs (runs of medfm grid worker) under the runs root: mean ± std per shot, challenge score",
    )
    .option("--project <name>", "with --grid: only runs of this project (MLflow experiment)")
    .action(
      async (
        run: string | undefined,
        options: { output?: string; root?: string; grid?: boolean; project?: string },
      ) => {
        if (options.grid && run === undefined) {
          const { path, results } = await buildGridReport(options);
          console.log(`Grid report of ${results} jobs written to ${path}`);
          return;
        }
        if (run === undefined) throw new Error("medfm report: give a run, or --grid");
        const path = await buildReport(run, options);
        console.log(`Report written to ${path}`);
      },
    );
}
