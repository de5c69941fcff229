#!/usr/bin/env bash
# Installs MLflow from PyPI into the ignored virtual environment .venv-mlflow/ at the repo root.
# Idempotent: does nothing when the venv already has the pinned version.
set -euo pipefail
cd "$(dirname "$0")/../.."
MLFLOW_VERSION="${MLFLOW_VERSION:-3.17.2}"
PYTHON="${PYTHON:-python3}"
VENV=".venv-mlflow"
if [ -x "$VENV/bin/mlflow" ] && "$VENV/bin/python" -c "import mlflow,sys; sys.exit(mlflow.__version__ != '$MLFLOW_VERSION')" 2>/dev/null; then
  echo "mlflow $MLFLOW_VERSION already installed in $VENV"
  exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "mlflow==$MLFLOW_VERSION"
echo "installed mlflow $("$VENV/bin/python" -c 'import mlflow; print(mlflow.__version__)') in $VENV"
