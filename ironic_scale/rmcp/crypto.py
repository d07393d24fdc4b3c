"""RMCP+ cipher suites 3 and 17: RAKP key exchange codes and per-packet sealing.

The arithmetic is IPMI v2.0 section 13.31-13.32; pyghmi does the client half
the same way (pyghmi/ipmi/private/session.py, _got_rakp2 and send_payload).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import struct
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ironic_scale.rmcp import wire


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """One cipher suite: its algorithm numbers and what they mean for us."""

    ident: int
    auth_alg: int  # RAKP-HMAC-SHA1 = 1, RAKP-HMAC-SHA256 = 3
    integrity_alg: int  # HMAC-SHA1-96 = 1, HMAC-SHA256-128 = 4
    conf_alg: int  # AES-CBC-128 = 1
    digest: str
    icv_len: int  # bytes of the truncated integrity check value

    @property
    def code_len(self) -> int:
        """Bytes of a RAKP key exchange authentication code: the whole HMAC."""
        return hashlib.new(self.digest).digest_size

    def record(self) -> bytes:
        """This suite's entry in Get Channel Cipher Suites (table 22-19)."""
        return bytes((0xC0, self.ident, self.auth_alg, 0x40 | self.integrity_alg, 0x80 | self.conf_alg))


SUITES: dict[int, CipherSuite] = {
    3: CipherSuite(3, 1, 1, 1, "sha1", 12),
    17: CipherSuite(17, 3, 4, 1, "sha256", 16),
}


def match_suite(auth: int | None, integrity: int | None, conf: int | None) -> CipherSuite | None:
    """The suite that fits the client's proposal; ``None`` means "any"."""
    for suite in sorted(SUITES.values(), key=lambda s: -s.ident):
        if ((auth is None or auth == suite.auth_alg)
                and (integrity is None or integrity == suite.integrity_alg)
                and (conf is None or conf == suite.conf_alg)):
            return suite
    return None


def mac(suite: CipherSuite, key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, suite.digest)


# The four RAKP computations (IPMI v2.0 section 13.31). ``console_sid`` is the
# remote console's session id (SIDm), ``bmc_sid`` the managed system's (SIDc);
# ``role`` is the whole RAKP 1 role byte, name-only-lookup bit included.

def rakp2_code(suite: CipherSuite, kuid: bytes, console_sid: int, bmc_sid: int, rm: bytes,
               rc: bytes, guid: bytes, role: int, username: bytes) -> bytes:
    """Key exchange authentication code of RAKP message 2, keyed by the password."""
    return mac(suite, kuid, struct.pack("<II", console_sid, bmc_sid) + rm + rc + guid
               + bytes((role, len(username))) + username)


def rakp3_code(suite: CipherSuite, kuid: bytes, rc: bytes, console_sid: int, role: int,
               username: bytes) -> bytes:
    """Key exchange authentication code of RAKP message 3, keyed by the password."""
    return mac(suite, kuid, rc + struct.pack("<I", console_sid) + bytes((role, len(username)))
               + username)


def session_integrity_key(suite: CipherSuite, kg: bytes, rm: bytes, rc: bytes, role: int,
                          username: bytes) -> bytes:
    """SIK; ``kg`` is the BMC key, or the password when none is set."""
    return mac(suite, kg, rm + rc + bytes((role, len(username))) + username)


def rakp4_icv(suite: CipherSuite, sik: bytes, rm: bytes, bmc_sid: int, guid: bytes) -> bytes:
    """Integrity check value of RAKP message 4."""
    return mac(suite, sik, rm + struct.pack("<I", bmc_sid) + guid)[: suite.icv_len]


# Keys whose AES contexts are kept, oldest first (see SessionKeys._admit).
CONTEXT_CACHE = 1024
# A key earns cached contexts when it seals again within this many seals of
# any key: a hot session (one node polled over and over, a busy conductor's
# few nodes) does; a sweep over thousands of sessions does not, so it leaves
# the cache to the hot ones instead of rebuilding and evicting on every packet.
ADMIT_DISTANCE = 256
_SEALS = itertools.count()
# Weak: a session logged out takes its keys (and their contexts) with it.
_WITH_CONTEXTS: weakref.WeakKeyDictionary[SessionKeys, None] = weakref.WeakKeyDictionary()
_CONTEXTS_LOCK = threading.Lock()


def _new_lock_in_child() -> None:
    # A fork while another thread held the lock would leave the child's copy held forever.
    global _CONTEXTS_LOCK
    _CONTEXTS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)
_ECB = modes.ECB()


class SessionKeys:
    """Keys of one active session: integrity (K1) and AES (first 16 bytes of K2)."""

    __slots__ = ("suite", "k1", "aes", "_ecb", "_sealed_at", "__weakref__")

    def __init__(self, suite: CipherSuite, sik: bytes):
        self.suite = suite
        # The constants are 20 bytes for both suites; ipmitool, FreeIPMI and
        # pyghmi all agree on that for suite 17 too.
        self.k1 = mac(suite, sik, b"\x01" * 20)
        self.aes = algorithms.AES(mac(suite, sik, b"\x02" * 20)[:16])
        self._ecb: tuple[Any, Any] | None = None
        self._sealed_at = -(1 << 62)

    def verify(self, raw: bytes) -> bool:
        """Check the trailer's integrity code over authtype..next-header."""
        n = self.suite.icv_len
        if len(raw) < 4 + n:
            return False
        return hmac.compare_digest(mac(self.suite, self.k1, raw[4:-n])[:n], raw[-n:])

    @property
    def cached(self) -> bool:
        """Whether this key holds block contexts (CBC chained here, not per packet)."""
        return self._ecb is not None

    def _admit(self) -> tuple[Any, Any] | None:
        """This key's AES block encryptor and decryptor if it sealed recently, else None.

        Why CBC is chained here (NIST SP 800-38A, 6.2) instead of by the library:
        a library CBC context is built per packet (each has its own IV), and
        building one costs ~6 us, more than the AES work and a good part of a
        warm poll. A context per key costs ~1.8 KB, too much for every one of
        25,000 sessions, so only keys that come back soon (ADMIT_DISTANCE) get
        them, and the CONTEXT_CACHE that got theirs last keep them.
        """
        now = next(_SEALS)
        last, self._sealed_at = self._sealed_at, now
        if now - last > ADMIT_DISTANCE:
            return None
        cipher = Cipher(self.aes, _ECB)
        contexts = self._ecb = (cipher.encryptor(), cipher.decryptor())
        with _CONTEXTS_LOCK:
            _WITH_CONTEXTS[self] = None
            while len(_WITH_CONTEXTS) > CONTEXT_CACHE:  # oldest admitted first
                oldest = next(iter(_WITH_CONTEXTS))
                del _WITH_CONTEXTS[oldest]
                oldest._ecb = None
        return contexts

    def decrypt(self, payload: bytes) -> bytes:
        if len(payload) < 32 or len(payload) % 16:
            raise wire.Malformed("encrypted payload is not IV plus whole AES blocks")
        contexts = self._ecb
        if contexts is None:
            library = Cipher(self.aes, modes.CBC(payload[:16])).decryptor()
            clear = library.update(payload[16:]) + library.finalize()
        else:
            # CBC: each block's cipher output XOR the block before it (the IV for the first).
            n = len(payload) - 16
            blocks = contexts[1].update(payload[16:])
            clear = (int.from_bytes(blocks, "big") ^ int.from_bytes(payload[:n], "big")).to_bytes(n, "big")
        pad = clear[-1]
        if pad > 15:
            raise wire.Malformed("bad confidentiality pad length")
        return clear[: -1 - pad]

    def seal(self, payload_type: int, session_id: int, sequence: int, payload: bytes) -> bytes:
        """Encrypt and sign an outbound payload into a whole datagram."""
        pad = (-(len(payload) + 1)) % 16
        iv = os.urandom(16)
        plain = payload + bytes(range(1, pad + 1)) + bytes((pad,))
        contexts = self._ecb or self._admit()
        if contexts is None:
            library = Cipher(self.aes, modes.CBC(iv)).encryptor()
            body = iv + library.update(plain) + library.finalize()
        else:
            encrypt = contexts[0].update
            chained = bytearray(iv)
            previous = int.from_bytes(iv, "big")
            for i in range(0, len(plain), 16):  # CBC: each block XOR the cipher block before it
                block = encrypt((int.from_bytes(plain[i:i + 16], "big") ^ previous).to_bytes(16, "big"))
                chained += block
                previous = int.from_bytes(block, "big")
            body = bytes(chained)
        msg = bytearray(wire.RMCP_HEADER)
        msg += bytes((wire.AUTHTYPE_RMCPPLUS, payload_type | 0xC0))
        msg += struct.pack("<IIH", session_id, sequence, len(body))
        msg += body
        integrity_pad = (-(len(msg) - 4 + 2)) % 4
        msg += b"\xff" * integrity_pad + bytes((integrity_pad, 0x07))
        msg += mac(self.suite, self.k1, bytes(msg[4:]))[: self.suite.icv_len]
        return bytes(msg)
