#!/usr/bin/env bash
# A real Ironic 39 on loopback for density tests and development.
#
#   deploy/ironic-stack.sh up --work /tmp/stack                       # all-in-one, SQLite
#   deploy/ironic-stack.sh up --work /tmp/stack --db postgresql --conductors 3
#   deploy/ironic-stack.sh enroll --work /tmp/stack --inventory INV.jsonl --driver native-ipmi
#   deploy/ironic-stack.sh set-driver --work /tmp/stack --driver ipmi
#   deploy/ironic-stack.sh status --work /tmp/stack
#   deploy/ironic-stack.sh down --work /tmp/stack
#
# Config comes from deploy/stack/ironic.conf (and deploy/stack/local.conf, if
# present). With --db postgresql, Debian's postgresql is installed when missing
# (the cluster is started by `ironic-scale stack up`). VENV picks the venv
# (default .venv) that has ironic-scale with the [density] extra.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
if [[ " $* " == *" postgresql "* || " $* " == *"--db=postgresql"* ]] && ! command -v pg_ctlcluster >/dev/null; then
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    echo "ironic-stack: installing postgresql" >&2
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
if [ ! -x "$venv/bin/ironic-scale" ]; then
    echo "ironic-stack: no $venv/bin/ironic-scale: python3 -m venv $venv && $venv/bin/pip install '.[density]'" >&2
    exit 2
fi
exec "$venv/bin/ironic-scale" stack "$@"
