#!/usr/bin/env bash
# Install everything the project needs on a Debian machine: system tools (apt)
# and a virtual environment in .venv with the package and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# command-or-file  Debian-package
TOOLS=(
  "iverilog iverilog"
  "yosys yosys"
  "yosys-abc yosys"
  "berkeley-abc berkeley-abc"
  "sta opensta"
  "nextpnr-ice40 nextpnr-ice40"
  "/usr/share/qflow/tech/osu018/osu018_stdcells.lib qflow-tech-osu018"
)

missing=()
for pair in "${TOOLS[@]}"; do
  read -r what pkg <<<"$pair"
  if [[ "$what" == /* ]]; then [[ -e "$what" ]] && continue; else command -v "$what" >/dev/null && continue; fi
  [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  if [[ $(id -u) == 0 ]]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else
    echo "setup: need root to install ${missing[*]}: run 'sudo apt-get install ${missing[*]}' and retry" >&2
    exit 1
  fi
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.ristretto-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp || constraints.txt -nt $stamp ]]; then
  .venv/bin/python -m pip install -q -c constraints.txt torch==2.13.0
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  touch "$stamp"
fi
