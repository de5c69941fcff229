import type { Command } from "commander";
import { buildReport } from "../report/build-report";

/** Registers `medfm report`. */
export function registerReportCommand(program: Command): void {
  program
    .command("report")
    .description(
      "Write one self-contained HTML report of a run: curves, per-class AP/AUC, PR/ROC curves, confusion matrix, label statistics, Grad-CAM gallery",
    )
    .argument("<run>", "run folder, or run id under the runs root")
    .option("--output <file>", "HTML file to write (default: <run>/report.html)")
    .option(
      "--root <dir>",
      "runs root for a bare run id (default: MEDFM_TRACK_ROOT or ./.medfm/runs)",
    )
    .action(async (run: string, options: { output?: string; root?: string }) => {
      const path = await buildReport(run, options);
      console.log(`Report written to ${path}`);
    });
}
