"""AES-CBC-128 as RMCP+ seals payloads: chained by hand for hot keys, the library's CBC otherwise.

The library's own CBC is the reference: every payload length a BMC could
send must decrypt with it on both paths, and keys past the context cache must still work.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import weakref

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from ironic_scale.rmcp import crypto, wire


def _keys(suite: int, hot: bool) -> crypto.SessionKeys:
    """Keys on the hand-chained path (hot: it sealed twice in a row) or the library's."""
    keys = crypto.SessionKeys(crypto.SUITES[suite], os.urandom(32))
    if hot:
        keys.seal(wire.PAYLOAD_IPMI, 1, 1, b"")
        keys.seal(wire.PAYLOAD_IPMI, 1, 2, b"")
    assert keys.cached is hot
    return keys


@pytest.mark.parametrize("hot", [True, False], ids=["cached-contexts", "library-cbc"])
@pytest.mark.parametrize("suite", sorted(crypto.SUITES))
def test_sealed_payloads_are_the_librarys_cbc_and_open_again(suite, hot, monkeypatch):
    if not hot:  # no key is ever admitted: every packet takes the library's CBC
        monkeypatch.setattr(crypto, "ADMIT_DISTANCE", -1)
    keys = _keys(suite, hot)
    for length in range(0, 100):
        payload = os.urandom(length)
        datagram = keys.seal(wire.PAYLOAD_IPMI, 0x01020304, 7, payload)
        pkt = wire.Packet.decode(datagram)
        assert keys.verify(datagram)
        library = Cipher(keys.aes, modes.CBC(pkt.payload[:16])).decryptor()
        clear = library.update(pkt.payload[16:]) + library.finalize()
        pad = clear[-1]
        assert clear[: -1 - pad] == payload and clear[length:-1] == bytes(range(1, pad + 1))
        assert keys.decrypt(pkt.payload) == payload
    assert keys.cached is hot


@pytest.mark.parametrize("hot", [True, False], ids=["cached-contexts", "library-cbc"])
def test_decrypt_takes_what_the_librarys_cbc_made(hot):
    keys = _keys(3, hot)
    iv, payload = os.urandom(16), b"chassis status" + bytes((1,))  # 14 bytes + pad 1 + its length
    enc = Cipher(keys.aes, modes.CBC(iv)).encryptor()
    body = iv + enc.update(payload + b"\x01") + enc.finalize()
    assert keys.decrypt(body) == b"chassis status"


def test_a_sweep_over_more_keys_than_the_admit_distance_caches_none(monkeypatch):
    monkeypatch.setattr(crypto, "ADMIT_DISTANCE", 4)
    sweep = [crypto.SessionKeys(crypto.SUITES[17], os.urandom(32)) for _ in range(10)]
    for _ in range(3):
        for keys in sweep:
            pkt = wire.Packet.decode(keys.seal(wire.PAYLOAD_IPMI, 1, 1, b"\x20\x18\xc8\x81"))
            assert keys.decrypt(pkt.payload) == b"\x20\x18\xc8\x81"
    assert not any(keys.cached for keys in sweep)
    hot = sweep[0]  # one node polled again and again earns its contexts on its second seal
    hot.seal(wire.PAYLOAD_IPMI, 1, 2, b"")
    assert not hot.cached
    hot.seal(wire.PAYLOAD_IPMI, 1, 3, b"")
    assert hot.cached


def test_keys_past_the_context_cache_still_seal_and_open(monkeypatch):
    monkeypatch.setattr(crypto, "CONTEXT_CACHE", 3)
    monkeypatch.setattr(crypto, "ADMIT_DISTANCE", 1 << 30)  # every key is hot
    all_keys = [crypto.SessionKeys(crypto.SUITES[17], os.urandom(32)) for _ in range(8)]
    for _ in range(3):  # later rounds rebuild contexts the earlier ones evicted
        for keys in all_keys:
            pkt = wire.Packet.decode(keys.seal(wire.PAYLOAD_IPMI, 1, 1, b"\x20\x18\xc8\x81"))
            assert keys.decrypt(pkt.payload) == b"\x20\x18\xc8\x81"
    assert len(crypto._WITH_CONTEXTS) <= 3
    assert sum(keys.cached for keys in all_keys) == 3


def test_a_key_logged_out_leaves_the_context_cache():
    keys = _keys(17, hot=True)
    gone = weakref.ref(keys)
    assert keys in crypto._WITH_CONTEXTS
    del keys
    gc.collect()
    assert gone() is None, "the context cache kept a logged-out session's keys alive"


def test_a_child_forked_while_the_cache_lock_was_held_still_admits_keys():
    # Another thread of the conductor may hold the lock when Ironic forks a worker.
    with crypto._CONTEXTS_LOCK:
        pid = os.fork()
        if pid == 0:  # the child: admitting a key takes the lock
            try:
                os._exit(0 if _keys(17, hot=True).cached else 1)
            finally:
                os._exit(2)
    pidfd = os.pidfd_open(pid)
    try:
        exited, _, _ = select.select([pidfd], [], [], 30.0)
        if not exited:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(pidfd)
    assert exited, "the child hung on the lock its parent held at the fork"
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_payload_that_is_not_whole_blocks_is_malformed():
    keys = crypto.SessionKeys(crypto.SUITES[3], os.urandom(20))
    for length in (0, 16, 31, 40):
        with pytest.raises(wire.Malformed, match="whole AES blocks"):
            keys.decrypt(os.urandom(length))
