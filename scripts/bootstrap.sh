#!/usr/bin/env bash
# Sets up everything the project needs in .venv (idempotent; fast when already done).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.onshi-installed
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip "setuptools<81" wheel
  .venv/bin/pip install -q -e ".[dev]"
  # face_recognition declares a dependency on source dlib; dlib-bin already provides it.
  .venv/bin/pip install -q --no-deps "face_recognition==1.3.0"
  touch "$stamp"
fi
if [ "${1:-}" = "--browser" ]; then
  # Browser tests use Debian's Chromium (never a downloaded browser build) and a Japanese font,
  # without which every Japanese label renders as empty boxes in screenshots.
  missing=""
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$missing fonts-noto-cjk"
  command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -q && $SUDO apt-get install -y -q $missing
  fi
  # The client generators tests/test_openapi.py runs over /openapi.json, installed project-local
  # (never globally): openapi-typescript from npm; openapi-python-client from PyPI in a venv of its
  # own, because it pins an older httpx than the project uses.
  tools=.cache/tools
  if [ ! -x "$tools/npm/node_modules/.bin/openapi-typescript" ]; then
    npm install --prefix "$tools/npm" --no-audit --no-fund --loglevel=error "openapi-typescript@7.13.0"
  fi
  if [ ! -x "$tools/python-client/bin/openapi-python-client" ]; then
    "$PY" -m venv "$tools/python-client"
    "$tools/python-client/bin/pip" install -q "openapi-python-client==0.29.1"
  fi
fi
