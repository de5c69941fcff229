import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** MLflow's JSON answers, read loosely by tests. */
// biome-ignore lint/suspicious/noExplicitAny: test helpers read MLflow's JSON without a schema.
type MlflowJson = any;

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/**
 * The URI of the local MLflow test server: `MEDFM_TEST_MLFLOW_URI`, else the one
 * scripts/mlflow/start.sh wrote to .cache/mlflow/uri, if it answers /health. Test-only.
 */
export async function findMlflowTestServer(): Promise<string | undefined> {
  let uri = process.env.MEDFM_TEST_MLFLOW_URI;
  const file = `${repoRoot}.cache/mlflow/uri`;
  if (!uri && existsSync(file)) uri = readFileSync(file, "utf8").trim();
  if (!uri) return undefined;
  try {
    const response = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(3000) });
    return response.ok ? uri : undefined;
  } catch {
    return undefined;
  }
}

/** Why MLflow tests skip, for the test output. */
export const mlflowSkipMessage =
  "no MLflow server: run scripts/mlflow/start.sh (or set MEDFM_TEST_MLFLOW_URI); MLflow tests skipped";

/** A small client for reading runs back through MLflow's REST API. Test-only. */
export async function mlflowGet(
  uri: string,
  path: string,
  query: Record<string, string>,
): Promise<MlflowJson> {
  const response = await fetch(`${uri}/api/2.0/mlflow/${path}?${new URLSearchParams(query)}`);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** POSTs to MLflow's REST API. Test-only. */
export async function mlflowPost(uri: string, path: string, body: unknown): Promise<MlflowJson> {
  const response = await fetch(`${uri}/api/2.0/mlflow/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Every point of a metric, all pages. Test-only. */
export async function metricHistory(
  uri: string,
  runId: string,
  key: string,
): Promise<{ key: string; value: number | string; timestamp: number; step: number }[]> {
  const points = [];
  let pageToken: string | undefined;
  do {
    const page = await mlflowGet(uri, "metrics/get-history", {
      run_id: runId,
      metric_key: key,
      max_results: "25000",
      ...(pageToken ? { page_token: pageToken } : {}),
    });
    points.push(...(page.metrics ?? []));
    pageToken = page.next_page_token;
  } while (pageToken);
  return points;
}

/** Finds the MLflow run that holds a local run (by its `medfm_run_id` tag). Test-only. */
export async function findMlflowRun(
  uri: string,
  experimentName: string,
  localRunId: string,
): Promise<MlflowJson> {
  const { experiment } = await mlflowGet(uri, "experiments/get-by-name", {
    experiment_name: experimentName,
  });
  const { runs } = await mlflowPost(uri, "runs/search", {
    experiment_ids: [experiment.experiment_id],
    filter: `tags.medfm_run_id = '${localRunId}'`,
  });
  if (runs?.length !== 1)
    throw new Error(`expected one MLflow run for ${localRunId}, got ${runs?.length ?? 0}`);
  return runs[0];
}
