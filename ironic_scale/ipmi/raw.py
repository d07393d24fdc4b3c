"""Raw IPMI requests in ipmitool's ``raw`` syntax, the way Ironic hands it over.

Ironic's ``send_raw`` passthru runs ``ipmitool ... raw <raw_bytes>`` with the
string split on single spaces, so a node's users and scripts write what
ipmitool 1.8.19 reads: a network function (a number, or one of ipmitool's
names, any case), a command, then data bytes; each number as C's strtoul(s, 0)
reads it (``0x1f``, ``31`` or ``037``), at most 255; at most 256 words. No
library parses this (pyghmi's raw_command takes numbers), hence the few lines.

Stricter than ipmitool where it would silently send something else than what
was written: an empty word (two spaces in a row, or a leading or trailing one)
is refused instead of read as 0x00, and a network function above 0x3F (which
ipmitool truncates to 6 bits on the wire) is refused.
"""

from __future__ import annotations

import re

from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine

# ipmitool's ipmi_netfn_vals (lib/ipmi_strings.c), matched case-insensitively (str2val).
NETFN_NAMES = {"chassis": 0x00, "bridge": 0x02, "sensorevent": 0x04, "application": 0x06,
               "firmware": 0x08, "storage": 0x0A, "transport": 0x0C}
MAX_WORDS = 256  # ipmitool: "Raw command input limit (256 bytes) exceeded"
MAX_NETFN = 0x3F  # six bits on the wire
_STRTOUL = re.compile(r"\+?(?:0[xX](?P<hex>[0-9a-fA-F]+)|(?P<oct>0[0-7]*)|(?P<dec>[1-9][0-9]*))")
_SHOWN = 20  # characters of a bad word echoed in an error


def _byte(word: str, what: str) -> int:
    """``word`` as ipmitool's str2uchar reads it; ValueError naming ``what``."""
    shown = word if len(word) <= _SHOWN else word[:_SHOWN - 3] + "..."
    if not word:
        raise ValueError(f"empty {what} (two spaces in a row, or a space at either end): "
                         "ipmitool would send it as 0x00")
    m = _STRTOUL.fullmatch(word)
    if m is None:
        raise ValueError(f"{what} {shown!r} is not a number (write 0x1f, 31 or 037)")
    value = int(m["hex"], 16) if m["hex"] else int(m["oct"], 8) if m["oct"] else int(m["dec"])
    if value > 0xFF:
        raise ValueError(f"{what} {shown!r} is more than 255")
    return value


def parse_raw_bytes(text: str) -> tuple[int, int, bytes]:
    """``'0x06 0x01'`` -> (netfn, command, data).

    :raises: ValueError with a one-line reason naming the bad word.
    """
    if not isinstance(text, str):
        raise ValueError(f"raw bytes must be a string like '0x06 0x01', not {type(text).__name__}")
    words = text.split(" ")
    if len(words) < 2:
        raise ValueError("raw bytes need at least a network function and a command, "
                         "e.g. '0x06 0x01'")
    if len(words) > MAX_WORDS:
        raise ValueError(f"raw bytes have {len(words)} words; ipmitool's limit is {MAX_WORDS}")
    name = words[0].lower()
    netfn = NETFN_NAMES[name] if name in NETFN_NAMES else _byte(words[0], "netfn")
    if netfn > MAX_NETFN:
        raise ValueError(f"netfn {words[0]!r} is out of range 0-0x3f")
    command = _byte(words[1], "command")
    data = bytes(_byte(word, f"data byte {i}") for i, word in enumerate(words[2:], 1))
    return netfn, command, data


def format_response(data: bytes) -> str:
    """The response data as ``ipmitool raw`` prints it: `` xx`` per byte, 16 to a line."""
    lines = [" ".join(f"{b:02x}" for b in data[i:i + 16]) for i in range(0, len(data), 16)]
    return "".join(f" {line}\n" for line in lines) or "\n"


def send_raw(engine: Engine, creds: BmcCredentials, text: str, timeout: float) -> bytes:
    """Send one request written in ipmitool's raw syntax; the response data.

    :raises: ValueError for unparsable ``text`` (nothing is sent), IPMIError
        (CommandFailed with the BMC's completion code) as any call.
    """
    return send_request(engine, creds, parse_raw_bytes(text), timeout)


def send_request(engine: Engine, creds: BmcCredentials, request: tuple[int, int, bytes],
                 timeout: float) -> bytes:
    """Send a request ``parse_raw_bytes`` made; the response data (raises IPMIError)."""
    netfn, command, data = request
    return engine.call(creds, netfn, command, data, timeout)
