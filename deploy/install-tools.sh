#!/usr/bin/env bash
# Install the real IPMI tools the tests and benchmarks compare against:
# ipmitool, FreeIPMI (ipmipower) and OpenIPMI (ipmi_sim), plus GNU time, and PostgreSQL,
# MariaDB and RabbitMQ for the multi-conductor Ironic stack, and git for the patch-series tests
# (the patch tool itself needs neither git nor patch), and nss_wrapper. Debian/Ubuntu only.
# The stack runs MariaDB and RabbitMQ as private servers in its work directory: the system
# services this script installs are stopped and disabled again (where systemd runs them).
set -euo pipefail
missing=()
command -v ipmitool >/dev/null || missing+=(ipmitool)
command -v ipmipower >/dev/null || missing+=(freeipmi-tools)
command -v ipmi_sim >/dev/null || missing+=(openipmi)
[ -x /usr/bin/time ] || missing+=(time)  # GNU time: peak RSS of forked tools in the bench
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)  # several conductors (tests/integration)
[ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)  # stack --db mariadb (a private mariadbd)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)  # stack --rpc rabbit
command -v git >/dev/null || missing+=(git)  # the patch tests make series with git format-patch
command -v setpriv >/dev/null || missing+=(util-linux)  # the read-only-tree test runs as nobody
# nss_wrapper: a test process's own hosts file (a host name resolving to ::1, tests/functional/test_ipv6.py)
[ -e /usr/lib/x86_64-linux-gnu/libnss_wrapper.so ] || missing+=(libnss-wrapper)
[ ${#missing[@]} -eq 0 ] && exit 0
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-tools: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    as_root=(sudo)
fi
echo "install-tools: installing ${missing[*]}" >&2
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
services=()
for pkg in "${missing[@]}"; do
    case $pkg in mariadb-server) services+=(mariadb) ;; rabbitmq-server) services+=(rabbitmq-server) ;; esac
done
if [ ${#services[@]} -gt 0 ] && [ -d /run/systemd/system ]; then
    "${as_root[@]}" systemctl disable --now --quiet "${services[@]}" 2>/dev/null || true
fi
