#!/usr/bin/env bash
# Build RecBole's venv for benchmarks/recbole_peer.py, outside the repository by default.
#   benchmarks/recbole/make_venv.sh [VENV_DIR]        (default: ../recbole-venv beside the checkout)
# torch goes in first and pinned (an unpinned torch pulls a multi-GB CUDA build); a local CPU
# wheel is used when TORCH_WHEEL names one (e.g. /opt/wheels/torch-2.13.0+cpu-...whl).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/../../../recbole-venv}"
python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade "pip<25"
if [[ -n "${TORCH_WHEEL:-}" ]]; then
  "$venv/bin/pip" install -q "$TORCH_WHEEL"
else
  "$venv/bin/pip" install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu || "$venv/bin/pip" install -q torch==2.13.0
fi
"$venv/bin/pip" install -q -r "$here/requirements.txt"
"$venv/bin/python" -c "import recbole, torch, numpy; print('recbole', recbole.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__)"
echo "RecBole venv ready: $venv/bin/python benchmarks/recbole_peer.py --out <quality output folder>"
