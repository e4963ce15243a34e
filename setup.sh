#!/usr/bin/env bash
# Set up everything a fresh machine needs: system OpenGL (EGL, Mesa software rendering) for the
# renderer, a virtual environment in .venv with the pinned packages, and this package (editable).
# Idempotent: a second run only checks. Needs Python 3.11+ and, for the system packages, root
# (a user without root asks an admin for: libegl1 libegl-mesa0 libgl1 libgles2 libglu1-mesa).
set -euo pipefail
cd "$(dirname "$0")"

need_pkgs=()
for lib in libEGL.so.1 libEGL_mesa.so.0 libGL.so.1 libGLU.so.1; do
  ldconfig -p | grep -q "$lib" || need_pkgs=(libegl1 libegl-mesa0 libgl1 libgles2 libglu1-mesa)
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system OpenGL packages: ${need_pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "setup: missing system OpenGL libraries; ask an admin to run: apt-get install ${need_pkgs[*]}" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.defmo-installed
want=$(cat requirements.txt requirements-pipeline.txt requirements-test.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing pinned packages into .venv (about 2 minutes the first time)"
  .venv/bin/pip install -q -r requirements.txt -r requirements-pipeline.txt -r requirements-test.txt 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/pip install -q --no-deps -e . 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/python -c "import defmo, torch, pyrender, snakemake" || { echo "setup: install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
echo "setup: ready (.venv: $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
