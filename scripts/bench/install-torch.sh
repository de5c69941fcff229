#!/usr/bin/env bash
# Installs PyPI's torch and torchvision into ./.venv-bench, the PyTorch most users run today, so
# `pnpm bench densenet` compares with it (NCHW and channels_last) beside Debian's python3-torch.
# PyPI's Linux wheel depends on NVIDIA's CUDA libraries (several GiB) and does not import without
# them, even on a machine with no GPU; the bench runs it on the CPU. Reruns are no-ops.
# Usage: bash scripts/bench/install-torch.sh [python3]   (default /usr/bin/python3, >= 3.10)
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:-/usr/bin/python3}
venv=.venv-bench
if "$venv/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  "$venv/bin/python" -c "import torch; print('PyPI torch', torch.__version__, 'in $venv')"
  exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q torch torchvision
"$venv/bin/python" -c "import torch; print('PyPI torch', torch.__version__, 'in $venv')"
