#!/usr/bin/env bash
# A real Ironic 39 on loopback for density tests and development.
#
#   deploy/ironic-stack.sh up --work /tmp/stack                       # all-in-one, SQLite
#   deploy/ironic-stack.sh up --work /tmp/stack --db postgresql --conductors 3
#   deploy/ironic-stack.sh up --work /tmp/stack --db mariadb --rpc rabbit --hosts 2 --per-host 2
#   deploy/ironic-stack.sh enroll --work /tmp/stack --inventory INV.jsonl --driver native-ipmi
#   deploy/ironic-stack.sh set-driver --work /tmp/stack --driver ipmi
#   deploy/ironic-stack.sh status --work /tmp/stack
#   deploy/ironic-stack.sh down --work /tmp/stack
#
# Config comes from deploy/stack/ironic.conf (and deploy/stack/local.conf, if
# present). With --db postgresql, --db mariadb or --rpc rabbit, deploy/install-tools.sh
# installs Debian's postgresql, mariadb-server or rabbitmq-server when missing
# (`ironic-scale stack up` starts the PostgreSQL cluster, and private MariaDB and
# RabbitMQ servers in --work). VENV picks the venv (default .venv) that has
# ironic-scale with the [density] extra.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
needs=0
[[ " $* " =~ [\ =]postgresql\  ]] && ! command -v pg_ctlcluster >/dev/null && needs=1
[[ " $* " =~ [\ =]mariadb\  ]] && [ ! -x /usr/sbin/mariadbd ] && needs=1
[[ " $* " =~ [\ =]rabbit\  ]] && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && needs=1
if [ $needs -eq 1 ]; then
    deploy/install-tools.sh  # installs what is missing, quietly
fi
if [ ! -x "$venv/bin/ironic-scale" ]; then
    echo "ironic-stack: no $venv/bin/ironic-scale: python3 -m venv $venv && $venv/bin/pip install '.[density]'" >&2
    exit 2
fi
exec "$venv/bin/ironic-scale" stack "$@"
