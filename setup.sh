#!/usr/bin/env bash
# Installs everything bnnarch needs on a fresh Debian machine, idempotently:
#   Debian: iverilog, verilator, yosys (RTL checks), postgresql (shared Optuna storage tests)
#   Python: a venv in .venv with torch==2.13.0 (CPU, installed first), then bnnarch[dev].
set -euo pipefail
cd "$(dirname "$0")"
need=()
for pair in iverilog:iverilog verilator:verilator yosys:yosys; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.bnnarch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  # torch first and pinned: a looser requirement pulls a multi-GB CUDA build.
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
echo "setup: ok ($(.venv/bin/python -c 'import torch,sys; print("python", sys.version.split()[0], "torch", torch.__version__)'))"
