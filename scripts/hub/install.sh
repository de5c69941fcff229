#!/usr/bin/env bash
# Installs huggingface_hub from PyPI into the ignored virtual environment .venv-hub/ at the repo
# root, for the tests that check our cache against huggingface_hub's
# (packages/models/src/hub/pull-snapshot.test.ts finds it there, or via MEDFM_TEST_HF_PYTHON).
# Idempotent: does nothing when the venv already has the pinned version.
set -euo pipefail
cd "$(dirname "$0")/../.."
HF_HUB_VERSION="${HF_HUB_VERSION:-2.4.0}"
PYTHON="${PYTHON:-python3}"
VENV=".venv-hub"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import huggingface_hub,sys; sys.exit(huggingface_hub.__version__ != '$HF_HUB_VERSION')" 2>/dev/null; then
  echo "huggingface_hub $HF_HUB_VERSION already installed in $VENV"
  exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "huggingface_hub==$HF_HUB_VERSION"
echo "installed huggingface_hub $("$VENV/bin/python" -c 'import huggingface_hub; print(huggingface_hub.__version__)') in $VENV"
