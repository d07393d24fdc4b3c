#!/usr/bin/env bash
# The whole test suite, from nothing: system tools, a venv with the [test], [bench],
# [density] and [fleet] extras, ruff, then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-tools.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench,density,fleet]'
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
