#!/usr/bin/env bash
# Set-up, idempotent and quick to repeat (scripts/setup_plan.py decides and says what):
# torch when none is installed (an NVIDIA GPU -> the CUDA build; Linux without one -> the
# CPU build from PyTorch's CPU index, falling back to the default index if that cannot be
# reached), then nlviz editable with its test tools. An installed torch is kept. When a
# stamp says this was done for this pyproject.toml and this Python, and the install still
# looks sound, it does nothing at all. PYTHON=/path/to/python picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" scripts/setup_plan.py
