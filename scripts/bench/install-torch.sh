#!/usr/bin/env bash
# Installs PyPI's torch and torchvision (and timm, for `pnpm bench vit`) into ./.venv-bench, the
# PyTorch most users run today, so `pnpm bench densenet` compares with it (NCHW and channels_last)
# beside Debian's python3-torch, and `pnpm bench vit` beside scripts/fixtures/models/install-timm.sh's
# venv over Debian's torch.
# PyPI's Linux wheel depends on NVIDIA's CUDA libraries (several GiB) and does not import without
# them, even on a machine with no GPU; the bench runs it on the CPU. Reruns are no-ops.
# Usage: bash scripts/bench/install-torch.sh [python3]   (default /usr/bin/python3, >= 3.10)
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:-/usr/bin/python3}
venv=.venv-bench
timm_version=1.0.31
if "$venv/bin/python" -c "import torch, torchvision, timm, sys; sys.exit(timm.__version__ != '$timm_version')" 2>/dev/null; then
  "$venv/bin/python" -c "import torch; print('PyPI torch', torch.__version__, 'in $venv')"
  exit 0
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q torch torchvision "timm==$timm_version"
"$venv/bin/python" -c "import torch; print('PyPI torch', torch.__version__, 'in $venv')"
