"""IPMI-over-LAN framing for the BMC side: RMCP, session headers, LAN messages.

Written by hand because no library parses RMCP+ *requests*: pyghmi, ipmitool
and FreeIPMI are clients, and pyghmi's own BMC server cannot scale (see
../shared/DESIGN.md). Layouts follow IPMI v2.0 rev 1.1, tables 13-4 to 13-8.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RMCP_HEADER = b"\x06\x00\xff\x07"
RMCP_CLASS_ASF = 0x06
RMCP_CLASS_IPMI = 0x07

AUTHTYPE_NONE = 0x00
AUTHTYPE_RMCPPLUS = 0x06

PAYLOAD_IPMI = 0x00
PAYLOAD_OPEN_SESSION_REQUEST = 0x10
PAYLOAD_OPEN_SESSION_RESPONSE = 0x11
PAYLOAD_RAKP1 = 0x12
PAYLOAD_RAKP2 = 0x13
PAYLOAD_RAKP3 = 0x14
PAYLOAD_RAKP4 = 0x15

BMC_ADDRESS = 0x20

# Completion codes (IPMI v2.0 table 5-2) used by the simulator.
CC_OK = 0x00
CC_PARAM_NOT_SUPPORTED = 0x80
CC_PRIV_EXCEEDS_LIMIT = 0x81
CC_INVALID_SESSION_ID = 0x87
CC_INVALID_COMMAND = 0xC1
CC_REQ_DATA_TRUNCATED = 0xC6
CC_REQ_DATA_LEN_INVALID = 0xC7
CC_CANNOT_RETURN_BYTES = 0xCA
CC_SENSOR_NOT_PRESENT = 0xCB
CC_INVALID_DATA_FIELD = 0xCC
CC_INSUFFICIENT_PRIVILEGE = 0xD4
CC_NOT_IN_PRESENT_STATE = 0xD5


class Malformed(ValueError):
    """A datagram that a real BMC would silently drop."""


def checksum(data: bytes | bytearray) -> int:
    """Two's complement checksum of IPMB messages."""
    return (-sum(data)) & 0xFF


def _frame(head: bytes, body: bytes) -> bytes:
    """A LAN message: header (addresses, netfn/LUN) and body, each followed by its checksum."""
    return head + bytes((checksum(head),)) + body + bytes((checksum(body),))


def _check_message(msg: bytes, minimum: int, what: str) -> None:
    """Length and both checksums of a LAN message (header, then body)."""
    if len(msg) < minimum:
        raise Malformed(f"{what} shorter than {minimum} bytes")
    if checksum(msg[0:2]) != msg[2] or checksum(msg[3:-1]) != msg[-1]:
        raise Malformed(f"bad {what} checksum")


@dataclass(slots=True)
class Request:
    """One IPMI LAN request message (table 13-4), decoded."""

    netfn: int
    rs_lun: int
    rq_addr: int
    rq_seq: int
    rq_lun: int
    cmd: int
    data: bytes

    @classmethod
    def decode(cls, msg: bytes) -> "Request":
        _check_message(msg, 7, "IPMI request")
        return cls(
            netfn=msg[1] >> 2,
            rs_lun=msg[1] & 3,
            rq_addr=msg[3],
            rq_seq=msg[4] >> 2,
            rq_lun=msg[4] & 3,
            cmd=msg[5],
            data=bytes(msg[6:-1]),
        )

    def response(self, completion: int, data: bytes = b"") -> bytes:
        """Encode the matching response message (netfn + 1, same seq)."""
        head = bytes((self.rq_addr, ((self.netfn | 1) << 2) | self.rq_lun))
        body = bytes((BMC_ADDRESS, (self.rq_seq << 2) | self.rs_lun, self.cmd, completion)) + data
        return _frame(head, body)


CONSOLE_ADDRESS = 0x81  # software id of a remote console (table 5-4)


def encode_request(netfn: int, cmd: int, data: bytes, seq: int, rs_lun: int = 0,
                   rs_addr: int = BMC_ADDRESS, rq_addr: int = CONSOLE_ADDRESS) -> bytes:
    """A LAN request message (table 13-4), or an IPMB one for Send Message."""
    head = bytes((rs_addr, (netfn << 2) | rs_lun))
    body = bytes((rq_addr, (seq & 0x3F) << 2, cmd)) + data
    return _frame(head, body)


@dataclass(slots=True)
class Response:
    """One IPMI LAN response message, as a console receives it."""

    netfn: int  # the response netfn (request netfn + 1)
    seq: int
    cmd: int
    code: int
    data: bytes

    @classmethod
    def decode(cls, msg: bytes) -> "Response":
        _check_message(msg, 8, "IPMI response")
        return cls(msg[1] >> 2, msg[4] >> 2, msg[5], msg[6], bytes(msg[7:-1]))


@dataclass(slots=True)
class Packet:
    """An RMCP datagram with its session header parsed (tables 13-8 / 13-9)."""

    authtype: int
    payload_type: int  # bare type, without the encrypted/authenticated bits
    encrypted: bool
    authenticated: bool
    session_id: int
    sequence: int
    payload: bytes  # as on the wire: still encrypted if ``encrypted``
    raw: bytes  # the whole datagram, for integrity checks

    @classmethod
    def decode(cls, datagram: bytes) -> "Packet":
        if len(datagram) < 14 or datagram[0] != 0x06 or datagram[3] & 0x1F != RMCP_CLASS_IPMI:
            raise Malformed("not an RMCP IPMI datagram")
        authtype = datagram[4]
        if authtype == AUTHTYPE_RMCPPLUS:
            if len(datagram) < 16:
                raise Malformed("short RMCP+ header")
            ptype = datagram[5]
            session_id, sequence, length = struct.unpack_from("<IIH", datagram, 6)
            payload = datagram[16 : 16 + length]
            if len(payload) != length:
                raise Malformed("RMCP+ payload length exceeds datagram")
            return cls(authtype, ptype & 0x3F, bool(ptype & 0x80), bool(ptype & 0x40),
                       session_id, sequence, payload, datagram)
        if authtype == AUTHTYPE_NONE:
            # IPMI v1.5 header, used before a session exists (table 13-4).
            sequence, session_id = struct.unpack_from("<II", datagram, 5)
            length = datagram[13]
            payload = datagram[14 : 14 + length]
            if len(payload) != length:
                raise Malformed("IPMI 1.5 payload length exceeds datagram")
            return cls(authtype, PAYLOAD_IPMI, False, False, session_id, sequence, payload, datagram)
        raise Malformed(f"unsupported authentication type {authtype}")


def encode_v15_sessionless(message: bytes) -> bytes:
    """An IPMI v1.5 packet with no session (authtype none, ids zero)."""
    return RMCP_HEADER + b"\x00" + bytes(8) + bytes((len(message),)) + message


def encode_v20_clear(payload_type: int, payload: bytes, session_id: int = 0, sequence: int = 0) -> bytes:
    """An RMCP+ packet without encryption or integrity (pre-session payloads)."""
    return (RMCP_HEADER + bytes((AUTHTYPE_RMCPPLUS, payload_type))
            + struct.pack("<IIH", session_id, sequence, len(payload)) + payload)


def asf_pong(datagram: bytes) -> bytes | None:
    """Answer an ASF Presence Ping (RMCP class 6) so rmcpping/ipmiping work."""
    if len(datagram) < 12 or datagram[8] != 0x80:  # 0x80: Presence Ping
        return None
    tag = datagram[9]
    # IANA (ASF), OEM-defined, supported entities (IPMI), interactions, reserved.
    data = struct.pack(">II", 4542, 0) + b"\x81\x00" + bytes(6)
    return (b"\x06\x00\xff\x06" + struct.pack(">IBBBB", 4542, 0x40, tag, 0, len(data)) + data)
