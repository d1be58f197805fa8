#!/usr/bin/env bash
# Creates .venv with the Python packages the test-suite uses as independent references:
# the official `openai` SDK (drop-in check), llama.cpp's `gguf` package (dequantization reference).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
