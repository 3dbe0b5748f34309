#!/usr/bin/env bash
# Rewrite constraints.txt from what .venv holds now: the exact versions CI is proven with.
# Take a new release on purpose: `.venv/bin/pip install -c /dev/null -U NAME`, run `make test`, then this script,
# and commit constraints.txt with the test run that proved it. pyproject.toml keeps the ranges a user may install.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Exact versions CI was proven with (tools/pin.sh writes this file from .venv; pyproject.toml has the ranges)."
  echo "# The set-up installs torch from this exact version (a CPU build is on disk here)."
  echo "torch==2.13.0"
  .venv/bin/python -m pip freeze --exclude-editable --all | grep -v -i -E '^(torch|pip|setuptools|wheel|ristretto-accel)=='
} > constraints.txt.tmp
mv constraints.txt.tmp constraints.txt
echo "pin: $(grep -c '==' constraints.txt) packages pinned in constraints.txt"
