"""Sensor readings from a BMC's SDR: bounded, and private to that BMC.

The records are decoded by pyghmi's ``SDREntry`` (names, units, formulas,
states), but read here, not by pyghmi's ``SDR`` class, for two reasons:

* ``SDR`` keeps decoded records in ``pyghmi.ipmi.sdr.shared_sdrs``, a
  process-wide dict keyed by what each BMC says about itself (firmware,
  manufacturer, product, device id, SDR timestamps). Any BMC can fill the
  entry a healthy BMC of the same model is later read from, and a BMC whose
  timestamp changes on every read adds an entry per read, never freed. Here
  the cache is keyed by the BMC (address, port, credentials, bridge target),
  bounded (least recently used out) and entries expire.
* ``SDR.get_sdr`` trusts the BMC: record ids that form a cycle, or Get SDR
  answering completion code 0xCA or 0xC5 forever, keep it sending requests
  for ever. Policing that loop from the adapter pyghmi calls would mean
  guessing from a stream of requests which ones are retries; the loop below
  is short and every bound is explicit: a deadline over the whole read, a
  record cap, record ids seen once, and a retry budget for 0xCA and 0xC5.

Any failure is an ``SDRError`` (an ``IPMIError``) with a one-line reason.
"""

from __future__ import annotations

import struct
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ironic_scale.ipmi import errors
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine

NETFN_SENSOR, NETFN_APP, NETFN_STORAGE = 0x04, 0x06, 0x0A
CMD_GET_SENSOR_READING, CMD_GET_DEVICE_ID = 0x2D, 0x01
CMD_SDR_INFO, CMD_RESERVE_SDR, CMD_GET_SDR = 0x20, 0x22, 0x23
CC_RESERVATION_LOST, CC_CANNOT_RETURN, CC_NOT_PRESENT = 0xC5, 0xCA, 0xCB
LAST_RECORD = 0xFFFF
HEADER = 5  # record id, SDR version, record type, body length

MAX_RECORDS = 1024  # large servers have a few hundred; a longer list is a broken BMC
RETRY_LIMIT = 16  # 0xC5 (reservation lost) and 0xCA (ask for fewer bytes) per read
DEADLINE_FACTOR = 6  # default deadline of a whole read: this many command timeouts
CHUNK = 16  # bytes per partial Get SDR once a BMC refused whole records (as ipmitool)
CACHE_TTL = 3600.0  # seconds a BMC's records are reused while its timestamps match

# Where each record type keeps its ID string type/length byte (IPMI v2.0 section 43).
_ID_STRING_AT = {0x01: 47, 0x02: 31, 0x03: 16, 0x11: 15}
_SIX_BIT = 2  # ID string type "6-bit packed ASCII"


class SDRError(errors.IPMIError):
    """The BMC's SDR could not be read or decoded: it loops, never ends, is malformed, or is slow."""


# -- The per-BMC record cache ---------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    stamp: bytes  # the repository's last addition and last erase timestamps
    records: tuple[bytes, ...]  # raw: decoded objects would be shared between threads
    expires: float


class SdrCache:
    """Raw SDR records of each BMC, least recently used out beyond ``size``, each for ``ttl`` s.

    A BMC's entry is only reused while the BMC reports the same repository
    timestamps, and only for the same key: one BMC can never fill another's.
    """

    def __init__(self, size: int, ttl: float = CACHE_TTL):
        self.size, self.ttl = size, ttl
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, stamp: bytes, now: float) -> tuple[bytes, ...] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.stamp != stamp or entry.expires <= now:
                self._entries.pop(key, None)
                return None
            self._entries.move_to_end(key)
            return entry.records

    def put(self, key: tuple, stamp: bytes, records: tuple[bytes, ...], now: float) -> None:
        with self._lock:
            self._entries[key] = _Entry(stamp, records, now + self.ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


_caches: weakref.WeakKeyDictionary[Engine, SdrCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_of(engine: Engine) -> SdrCache:
    """The engine's SDR cache: one entry per BMC it may keep a session with, at most.

    Sized by the engine's session bound ([native_ipmi]session_cache_size), the
    number of BMCs this conductor is expected to talk to.
    """
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = SdrCache(engine.config.max_sessions)
        return cache


def cache_key(creds: BmcCredentials) -> tuple:
    """The BMC, as the engine's sessions know it, plus the bridged controller if any."""
    return (*creds.session_key, creds.bridge)


# -- Reading the records ----------------------------------------------------------


@dataclass
class _Reader:
    """Requests of one read, all under one deadline and one retry budget."""

    engine: Engine
    creds: BmcCredentials
    timeout: float
    deadline: float  # seconds for the whole read
    ends: float = field(init=False)
    reservation: int = 0
    partial: bool = False  # the BMC refused a whole record once: read in chunks
    chunk: int = CHUNK
    retries: int = 0

    def __post_init__(self) -> None:
        self.ends = time.monotonic() + self.deadline

    def fail(self, reason: str) -> SDRError:
        return SDRError(f"sensor data of {self.creds.target}: {reason}")

    def call(self, netfn: int, cmd: int, data: bytes = b"", lun: int = 0) -> bytes:
        remaining = self.ends - time.monotonic()
        if remaining <= 0:
            raise self.fail(f"not read within {self.deadline:g} s")
        try:
            return self.engine.call(self.creds, netfn, cmd, data, min(self.timeout, remaining), lun)
        except errors.BMCTimeout as e:
            if remaining < self.timeout:  # cut short by the deadline: say so
                raise self.fail(f"not read within {self.deadline:g} s") from e
            raise

    def get_sdr(self, record_id: int, offset: int, count: int) -> bytes | None:
        """One Get SDR; None when the BMC cannot return that many bytes (0xCA)."""
        while True:
            if self.partial and not self.reservation:
                self.reservation = self._reserve()
            request = struct.pack("<HHBB", self.reservation, record_id, offset, count)
            try:
                return self.call(NETFN_STORAGE, CMD_GET_SDR, request)
            except errors.CommandFailed as e:
                if e.code not in (CC_RESERVATION_LOST, CC_CANNOT_RETURN):
                    raise
                self._spend_retry(e.code)
                if e.code == CC_CANNOT_RETURN:
                    return None
                self.reservation = self._reserve()

    def _reserve(self) -> int:
        data = self.call(NETFN_STORAGE, CMD_RESERVE_SDR)
        if len(data) < 2:
            raise self.fail("short Reserve SDR Repository answer")
        return struct.unpack_from("<H", data)[0]

    def _spend_retry(self, code: int) -> None:
        self.retries += 1
        if self.retries > RETRY_LIMIT:
            raise self.fail(f"Get SDR failed with completion code 0x{code:02X} after "
                            f"{RETRY_LIMIT} retries")

    def record(self, record_id: int) -> tuple[int, bytes]:
        """(next record id, record bytes): whole if the BMC allows, else in chunks."""
        if not self.partial:
            data = self.get_sdr(record_id, 0, 0xFF)
            if data is not None:
                if len(data) < 2 + HEADER:
                    raise self.fail(f"short SDR record 0x{record_id:04X}")
                return struct.unpack_from("<H", data)[0], bytes(data[2:])
            self.partial = True
        return self._record_in_chunks(record_id)

    def _record_in_chunks(self, record_id: int) -> tuple[int, bytes]:
        data, length, following = bytearray(), HEADER, LAST_RECORD
        while len(data) < length:
            if len(data) > 0xFF:
                raise self.fail(f"SDR record 0x{record_id:04X} is longer than Get SDR can reach")
            count = min(self.chunk, length - len(data))
            part = self.get_sdr(record_id, len(data), count)
            if part is None:  # 0xCA: ask for less (the retry was counted)
                self.chunk = max(1, self.chunk // 2)
                continue
            if len(part) <= 2:
                raise self.fail(f"empty part of SDR record 0x{record_id:04X}")
            following = struct.unpack_from("<H", part)[0]
            data += part[2:2 + count]
            if len(data) >= HEADER:
                length = HEADER + data[4]
        return following, bytes(data)

    def records(self) -> tuple[bytes, ...]:
        """Every record, following next-record ids from the first to 0xFFFF."""
        out: list[bytes] = []
        seen: set[int] = set()
        record_id = 0  # 0: the first record
        while record_id != LAST_RECORD:
            if len(out) >= MAX_RECORDS:
                raise self.fail(f"the SDR has more than {MAX_RECORDS} records")
            seen.add(record_id)
            following, record = self.record(record_id)
            seen.add(struct.unpack_from("<H", record)[0])
            if following in seen:
                raise self.fail(f"SDR record ids loop (record 0x{following:04X} again)")
            out.append(record)
            record_id = following
        return tuple(out)


def _repository_info(reader: _Reader) -> tuple[bytes, int]:
    """Get SDR Repository Info: (last addition and erase timestamps, record count)."""
    info = reader.call(NETFN_STORAGE, CMD_SDR_INFO)
    if len(info) < 14 or info[0] != 0x51:
        raise reader.fail("no SDR repository of version 1.5 (Get SDR Repository Info)")
    return bytes(info[5:13]), struct.unpack_from("<H", info, 1)[0]


def _records(reader: _Reader, cache: SdrCache) -> tuple[bytes, ...]:
    """The BMC's records: from the cache while its timestamps match, else read anew.

    An empty repository (count 0) has no first record to ask for: OpenIPMI's
    ipmi_sim answers Get SDR 0000 with 0xCB. None are read then, as ipmitool.
    """
    key, (stamp, count) = cache_key(reader.creds), _repository_info(reader)
    if count == 0:
        return ()
    records = cache.get(key, stamp, time.monotonic())
    if records is None:
        records = reader.records()
        cache.put(key, stamp, records, time.monotonic())
    return records


# -- Decoding with pyghmi ----------------------------------------------------------


def _six_bit_as_ascii(record: bytes) -> bytes:
    """The record with a 6-bit packed ID string rewritten as 8-bit ASCII.

    pyghmi 1.6.19's ``SDREntry.tlv_decode`` never advances through 6-bit
    packed data: such a name (legal, if rare) would spin a conductor thread
    for ever, out of reach of any deadline.
    """
    at = _ID_STRING_AT.get(record[3]) if len(record) > HEADER else None
    if at is None or len(record) <= at or record[at] >> 6 != _SIX_BIT:
        return record
    packed = record[at + 1:at + 1 + (record[at] & 0x1F)]
    bits = int.from_bytes(packed, "little")
    name = bytes(0x20 + (bits >> (6 * i) & 0x3F) for i in range(len(packed) * 8 // 6))
    name = name.rstrip(b" ")[:0x1F]
    return record[:at] + bytes((0xC0 | len(name),)) + name


def _decode(record: bytes, mfg_id: int, prod_id: int, target: str) -> Any:
    """pyghmi's SDREntry for one record; its exceptions become SDRError."""
    from pyghmi.ipmi import sdr
    from pyghmi.ipmi.private import constants

    try:
        return sdr.SDREntry(bytearray(_six_bit_as_ascii(record)), constants, False, mfg_id, prod_id)
    except Exception as e:  # pyghmi indexes, unpacks and looks up without checks
        record_id = struct.unpack_from("<H", record)[0] if len(record) >= 2 else -1
        raise SDRError(f"sensor data of {target}: malformed SDR record 0x{record_id:04X} "
                       f"({type(e).__name__}: {e or 'unsupported'})") from e


def _sensor_entries(records: tuple[bytes, ...], mfg_id: int, prod_id: int, target: str) -> list:
    """Readable sensors, as pyghmi's SDR keeps them: a duplicated sensor is dropped, both copies."""
    from pyghmi.ipmi import sdr

    sensors: dict[tuple[int, int, int], Any] = {}
    duplicated: set[tuple[int, int, int]] = set()
    for record in records:
        entry = _decode(record, mfg_id, prod_id, target)
        if entry.sdrtype != sdr.TYPE_SENSOR:
            continue
        # pyghmi keeps only the entity's name; ipmitool (and so Ironic's consumers) also
        # show its id and instance: bytes 9 and 10 of the sensor record (IPMI v2.0 43.1).
        entry.entity_code = (record[8], record[9] & 0x7F) if len(record) > 9 else (0, 0)
        key = (entry.sensor_owner, entry.sensor_number, entry.sensor_lun)
        if key in sensors:
            duplicated.add(key)
        else:
            sensors[key] = entry
    return [e for k, e in sensors.items() if k not in duplicated and e.readable]


class _PyghmiAdapter:
    """What ``SDREntry.decode_sensor_reading`` calls: non-linear sensors fetch their factors."""

    def __init__(self, reader: _Reader):
        self.reader = reader

    def raw_command(self, netfn: int, command: int, data: Any = (), **_: Any) -> dict[str, Any]:
        rsp = self.reader.call(netfn, command, bytes(data))
        return {"netfn": netfn + 1, "command": command, "code": 0, "data": bytearray(rsp)}


def _reading(reader: _Reader, entry: Any) -> dict[str, Any] | None:
    """One Get Sensor Reading, decoded; None for a sensor that is not present."""
    try:
        raw = reader.call(NETFN_SENSOR, CMD_GET_SENSOR_READING, bytes((entry.sensor_number,)),
                          entry.sensor_lun)
    except errors.CommandFailed as e:
        if e.code == CC_NOT_PRESENT:  # an optional device that is not fitted
            return None
        raise
    try:
        reading = entry.decode_sensor_reading(_PyghmiAdapter(reader), bytearray(raw))
    except errors.IPMIError:
        raise
    except Exception as e:  # as in _decode
        raise reader.fail(f"malformed reading of sensor {entry.sensor_number:#x} "
                          f"({type(e).__name__}: {e})") from e
    if reading is None:
        return None
    return {"name": reading.name, "number": entry.sensor_number, "entity": entry.entity,
            "entity_code": getattr(entry, "entity_code", (0, 0)),
            "type": reading.type, "value": reading.value, "units": reading.units,
            "states": list(reading.states), "health": reading.health,
            "unavailable": reading.unavailable,
            # Threshold sensors have reading type 1 (IPMI v2.0 table 42-1); the others are
            # discrete, and ipmitool shows their raw reading byte ("0h").
            "discrete": getattr(entry, "reading_type", 1) != 1,
            "raw_reading": raw[0] if raw else 0}


def _device_id(reader: _Reader) -> tuple[int, int, bool]:
    """(manufacturer, product, has an SDR repository): pyghmi's OEM tables need the first two."""
    data = reader.call(NETFN_APP, CMD_GET_DEVICE_ID)
    if len(data) < 11:
        raise reader.fail("short Get Device ID answer")
    # Device SDRs without an SDR repository: nothing to read (as pyghmi).
    repository = not (data[1] & 0x80 and not data[5] & 0x02)
    return int.from_bytes(data[6:9], "little"), int.from_bytes(data[9:11], "little"), repository


def get_sensors(engine: Engine, creds: BmcCredentials, timeout: float,
                deadline: float | None = None) -> list[dict[str, Any]]:
    """Every sensor's reading, decoded by pyghmi (names, units, states).

    ``timeout`` bounds each request; ``deadline`` (default DEADLINE_FACTOR x
    ``timeout``) the whole read, SDR and readings, so a BMC can hold a
    conductor worker this long at most.

    :raises SDRError: the SDR loops, never ends, is malformed or too slow.
    :raises IPMIError: any other failure talking to the BMC.
    """
    reader = _Reader(engine, creds, timeout, DEADLINE_FACTOR * timeout if deadline is None
                     else deadline)
    mfg_id, prod_id, repository = _device_id(reader)
    if not repository:
        return []
    records = _records(reader, cache_of(engine))
    out = []
    for entry in _sensor_entries(records, mfg_id, prod_id, creds.target):
        reading = _reading(reader, entry)
        if reading is not None:
            out.append(reading)
    return out
