#!/usr/bin/env bash
# Starts a local MLflow tracking server for @medfm/track's integration tests and benchmark:
# 127.0.0.1 only, a sqlite store and served artifacts under .cache/mlflow/, in the background.
# Writes the server URI to .cache/mlflow/uri (tests read it, or MEDFM_TEST_MLFLOW_URI) and prints
# an `export MEDFM_TEST_MLFLOW_URI=...` line. Idempotent: an already healthy server is reused.
# Stop it with scripts/mlflow/stop.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
PORT="${MLFLOW_PORT:-5055}"
STATE=".cache/mlflow"
URI="http://127.0.0.1:$PORT"
mkdir -p "$STATE/artifacts"
healthy() {
  python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/health', timeout=2)" "$URI" >/dev/null 2>&1
}
if healthy; then
  echo "$URI" > "$STATE/uri"
  echo "export MEDFM_TEST_MLFLOW_URI=$URI"
  exit 0
fi
[ -x .venv-mlflow/bin/mlflow ] || bash scripts/mlflow/install.sh
setsid nohup .venv-mlflow/bin/mlflow server \
  --host 127.0.0.1 --port "$PORT" --workers "${MLFLOW_WORKERS:-2}" \
  --backend-store-uri "sqlite:///$PWD/$STATE/mlflow.db" \
  --artifacts-destination "$PWD/$STATE/artifacts" --serve-artifacts \
  >"$STATE/server.log" 2>&1 &
echo $! > "$STATE/server.pid"
for _ in $(seq 1 "${MLFLOW_START_TIMEOUT:-180}"); do
  if healthy; then
    echo "$URI" > "$STATE/uri"
    echo "export MEDFM_TEST_MLFLOW_URI=$URI"
    exit 0
  fi
  if ! kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null; then break; fi
  sleep 1
done
echo "mlflow server did not become healthy at $URI; last log lines:" >&2
tail -20 "$STATE/server.log" >&2
exit 1
