"""Start OpenIPMI's ``ipmi_sim`` as an independent reference BMC for tests.

Configured to look like the project's simulator: same user (admin privilege),
same Get Device ID identity, no IPMI 1.5 authentication types on the channel,
RMCP+ cipher suite 3 only (it has no SHA-256 suites). Power and boot requests
go to a chassis-control program: a tiny shell script keeping that state in
files (no ``startcmd``, no VM).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

IPMI_SIM = shutil.which("ipmi_sim")
IPMITOOL = shutil.which("ipmitool")
READY_DEADLINE = 15.0  # seconds for ipmi_sim to answer its first Get Device ID

# ipmi_lan(5): one LAN channel, user 2 = admin/password with admin privilege.
# No allowed_auths_* lines: like ours, the channel offers no IPMI 1.5
# authentication types, only RMCP+ (which needs the GUID).
LAN_CONF = """\
name "ironic-scale-reference"
set_working_mc 0x20
  startlan 1
    addr {address} {port}
    priv_limit admin
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "/bin/sh {chassis_script} 0x20"
  user 2 true "{user}" "{password}" admin 10 none md2 md5 straight
"""

# ipmi_sim_cmd(5): the BMC at 0x20 with our simulator's Get Device ID identity
# (commands.get_device_id): device 0x20, revision 1, no device SDRs, firmware
# 1.23, additional device support 0x83, manufacturer 0, product 1.
EMU_COMMANDS = """\
mc_setbmc 0x20
mc_add 0x20 0x20 no-device-sdrs 0x01 0x01 0x23 0x83 0x000000 0x0001
mc_enable 0x20
"""

# ipmi_sim's chassis-control protocol (lanserv/extcmd.c): "DEVICE get NAME..."
# prints NAME:VALUE lines, "DEVICE set NAME VALUE..." stores them.
CHASSIS_SCRIPT = """\
state="$(dirname "$0")/chassis-state"
mkdir -p "$state"
shift
op=$1
shift
case "$op" in
get)
    for name in "$@"; do
        if [ -f "$state/$name" ]; then
            value=$(cat "$state/$name")
        else
            case "$name" in boot) value=none ;; *) value=0 ;; esac
        fi
        echo "$name:$value"
    done ;;
set)
    while [ $# -ge 2 ]; do printf '%s' "$2" > "$state/$1"; shift 2; done ;;
*)
    exit 1 ;;
esac
"""



@contextlib.contextmanager
def running_ipmi_sim(work: Path, address: str, port: int, user: str, password: str
                     ) -> Iterator[str | None]:
    """Run ipmi_sim on ``address:port`` while in the block.

    Yields None once it answers, or the reason it never did (for the caller
    to skip on); it is stopped either way.
    """
    state = work / "state"
    state.mkdir()
    script = work / "chassis.sh"
    script.write_text(CHASSIS_SCRIPT)
    conf = work / "lan.conf"
    conf.write_text(LAN_CONF.format(address=address, port=port, chassis_script=script,
                                    user=user, password=password))
    emu = work / "sim.emu"
    emu.write_text(EMU_COMMANDS)
    log_path = work / "ipmi_sim.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([IPMI_SIM, "-n", "-c", str(conf), "-f", str(emu), "-s", str(state)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=work)
    try:
        problem = _wait_until_answering(proc, log_path, address, port, user, password)
        yield problem
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_answering(proc: subprocess.Popen, log_path: Path, address: str, port: int,
                          user: str, password: str) -> str | None:
    """Poll with ipmitool until ipmi_sim answers; the reason it never did, if so."""
    deadline = time.monotonic() + READY_DEADLINE
    last = ""
    cmd = [IPMITOOL, "-I", "lanplus", "-C", "3", "-H", address, "-p", str(port), "-U", user,
           "-P", password, "-N", "1", "-R", "1", "raw", "0x06", "0x01"]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return (f"ipmi_sim exited with status {proc.returncode} before answering: "
                    f"{log_path.read_text().strip() or '(no output)'}")
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if res.returncode == 0:
            return None
        last = res.stderr.strip()
    return (f"ipmi_sim did not answer Get Device ID on {address}:{port} within "
            f"{READY_DEADLINE:.0f} s: {last}; log: {log_path.read_text().strip() or '(empty)'}")
