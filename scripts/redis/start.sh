#!/usr/bin/env bash
# Starts Debian's redis-server on 127.0.0.1 (REDIS_PORT, default 6379) with its append-only file
# on, installing it with apt when missing; prints `export MEDFM_REDIS_URL=...` for eval. A server
# already answering on the port is reused.
set -euo pipefail
port="${REDIS_PORT:-6379}"
dir="${REDIS_DIR:-.medfm/redis}"
command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } >&2
if command -v redis-cli >/dev/null && redis-cli -p "$port" ping >/dev/null 2>&1; then
  # Idempotent, like scripts/mlflow/start.sh: a server already answering on the port is reused.
  echo "export MEDFM_REDIS_URL=redis://127.0.0.1:$port"
  exit 0
fi
mkdir -p "$dir"
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --daemonize yes --save "" >&2
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "export MEDFM_REDIS_URL=redis://127.0.0.1:$port"
