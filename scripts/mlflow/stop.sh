#!/usr/bin/env bash
# Stops the MLflow server started by scripts/mlflow/start.sh (by its recorded process id).
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE=".cache/mlflow"
if [ -f "$STATE/server.pid" ]; then
  # start.sh runs the server in its own session, so its process group id is its pid.
  kill -- -"$(cat "$STATE/server.pid")" 2>/dev/null || true
  rm -f "$STATE/server.pid" "$STATE/uri"
fi
