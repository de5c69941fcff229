#!/usr/bin/env node
// Runs every vitest test in the workspace once and ends with a plain summary line
// ("N passed, M failed, K skipped") read from vitest's JSON report, so an empty or partial run
// is visible in CI logs. Extra arguments are passed to vitest (e.g. a file filter).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const reportDir = join(root, "reports");
const jsonReport = join(reportDir, "vitest.json");
mkdirSync(reportDir, { recursive: true });
rmSync(jsonReport, { force: true });

const result = spawnSync(
  join(root, "node_modules", ".bin", "vitest"),
  [
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${jsonReport}`,
    "--reporter=junit",
    `--outputFile.junit=${join(reportDir, "junit.xml")}`,
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: "inherit" },
);

if (!existsSync(jsonReport)) {
  console.error("vitest wrote no JSON report: the run did not complete.");
  console.log("0 passed, 1 failed");
  process.exit(result.status || 1);
}
const report = JSON.parse(readFileSync(jsonReport, "utf8"));
const failedSuites = report.testResults.filter(
  (suite) => suite.status === "failed" && suite.assertionResults.length === 0,
).length;
const passed = report.numPassedTests;
const failed = report.numFailedTests + failedSuites;
const skipped = report.numPendingTests + report.numTodoTests;
if (failedSuites > 0) console.error(`${failedSuites} test file(s) failed to load.`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(result.status ?? (failed > 0 ? 1 : 0));
