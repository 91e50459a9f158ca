#!/usr/bin/env bash
# One-time set-up, idempotent: the CPU build of torch (never the multi-GB CUDA one by
# accident), then nlviz with its test extras. GPU users: install torch for your CUDA
# version first (https://pytorch.org/get-started/locally/); this script then keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install --quiet "torch==2.13.0" \
        || "$PY" -m pip install --quiet "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
fi
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[test]"
