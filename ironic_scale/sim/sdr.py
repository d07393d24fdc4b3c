"""A small Sensor Data Record repository: enough for `ipmitool sdr`, pyghmi and Ironic.

Records follow IPMI v2.0 section 43 (full sensor 01h, compact sensor 02h,
management controller locator 12h). Every simulated BMC shares them; only the
readings depend on the host's power state.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Sensor:
    number: int
    name: str
    sensor_type: int  # table 42-3
    unit: int  # table 43-15
    m: int  # reading = (m * raw + b * 10**b_exp) * 10**r_exp
    r_exp: int
    raw_on: int  # raw reading with the host on
    raw_off: int | None  # None: no reading while the host is off
    thresholds: tuple[int, int, int, int, int, int]  # unr, uc, unc, lnr, lc, lnc (raw)
    entity: int


THRESHOLD_SENSORS = (
    Sensor(0x01, "CPU Temp", 0x01, 1, 1, 0, 45, 24, (95, 90, 85, 0, 0, 5), 0x03),
    Sensor(0x02, "System Fan 1", 0x04, 18, 60, 0, 90, None, (255, 250, 240, 0, 5, 10), 0x1D),
    Sensor(0x03, "12V", 0x02, 4, 6, -2, 200, None, (230, 220, 215, 170, 180, 185), 0x07),
)
PSU_SENSOR_NUMBER = 0x04


def _id_string(name: str) -> bytes:
    raw = name.encode()[:16]
    return bytes((0xC0 | len(raw),)) + raw


def _full_record(record_id: int, s: Sensor) -> bytes:
    unr, uc, unc, lnr, lc, lnc = s.thresholds
    body = bytes((
        0x20, 0x00, s.number,  # owner, LUN, sensor number
        s.entity, 0x01,  # entity id, instance
        0x7F, 0x68,  # initialisation, capabilities (thresholds readable+settable)
        s.sensor_type, 0x01,  # threshold-based reading type
    )) + struct.pack("<HHH", 0x7A95, 0x7A95, 0x3F3F) + bytes((
        0x00, s.unit, 0x00, 0x00,  # unsigned analog; base unit; no modifier; linear
        s.m & 0xFF, (s.m >> 2) & 0xC0, 0x00, 0x00, 0x00,  # M, tolerance, B, accuracy
        (s.r_exp & 0x0F) << 4,  # R exponent, B exponent 0
        0x07, s.raw_on, unc, lnc,  # analog flags; nominal, normal max/min
        0xFF, 0x00,  # sensor max / min reading
        unr, uc, unc, lnr, lc, lnc,
        0x02, 0x02, 0x00, 0x00, 0x00,  # hysteresis +/-, reserved, OEM
    )) + _id_string(s.name)
    return struct.pack("<HBBB", record_id, 0x51, 0x01, len(body)) + body


def _psu_record(record_id: int) -> bytes:
    body = bytes((
        0x20, 0x00, PSU_SENSOR_NUMBER, 0x0A, 0x01,  # owner, LUN, number; power supply entity
        0x67, 0x40, 0x08, 0x6F,  # init, caps, type power supply, sensor-specific
    )) + struct.pack("<HHH", 0x0001, 0x0001, 0x0001) + bytes((
        0xC0, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    )) + _id_string("PSU1 Status")
    return struct.pack("<HBBB", record_id, 0x51, 0x02, len(body)) + body


def _mc_locator(record_id: int) -> bytes:
    body = bytes((0x20, 0x00, 0x00, 0x8F, 0, 0, 0, 0x2E, 0x01, 0x00)) + _id_string("BMC")
    return struct.pack("<HBBB", record_id, 0x51, 0x12, len(body)) + body


def _build() -> tuple[bytes, ...]:
    records = [_full_record(i + 1, s) for i, s in enumerate(THRESHOLD_SENSORS)]
    records.append(_psu_record(len(records) + 1))
    records.append(_mc_locator(len(records) + 1))
    return tuple(records)


RECORDS = _build()  # record id N is RECORDS[N - 1]
SENSORS = {s.number: s for s in THRESHOLD_SENSORS}


def reading(number: int, powered: bool) -> bytes | None:
    """Get Sensor Reading response data, or ``None`` for an unknown sensor."""
    if number == PSU_SENSOR_NUMBER:
        return bytes((0x00, 0xC0, 0x01, 0x80))  # presence detected
    s = SENSORS.get(number)
    if s is None:
        return None
    raw = s.raw_on if powered else s.raw_off
    if raw is None:
        return bytes((0x00, 0xE0, 0x00, 0x80))  # reading unavailable (bit 5)
    unr, uc, unc, lnr, lc, lnc = s.thresholds
    status = ((raw <= lnc) | (raw <= lc) << 1 | (raw <= lnr) << 2
              | (raw >= unc) << 3 | (raw >= uc) << 4 | (raw >= unr) << 5)
    return bytes((raw, 0xC0, status, 0x80))


def thresholds(number: int) -> bytes | None:
    """Get Sensor Thresholds response data: readable mask, then lnc..unr."""
    s = SENSORS.get(number)
    if s is None:
        return None
    unr, uc, unc, lnr, lc, lnc = s.thresholds
    return bytes((0x3F, lnc, lc, lnr, unc, uc, unr))


# -- Faults: SDR repositories that broke (or attacked) real clients -----------
# Chosen per BMC with the ``sdr_fault`` behaviour knob; "" is the healthy SDR
# above, byte for byte. The codes are answered by Get SDR itself (commands.py).
FAULT_CODES = {"cc_ca": 0xCA, "cc_c5": 0xC5}  # "cannot return bytes" / "reservation lost"
SDR_FAULTS = ("", "loop", "endless", "poison", "malformed", "sixbit", "timestamp", "chunked",
              *FAULT_CODES)
CHUNK_LIMIT = 8  # "chunked": Get SDR refuses (0xCA) to return more bytes than this at once
POISON_NAME = "HACKED Temp"
POISON_M = 10  # CPU Temp's raw reading times 10: 240 degrees C with the host off


def check_fault(name: str) -> str:
    """The knob's value if it names a fault, else ValueError listing them."""
    if name not in SDR_FAULTS:
        raise ValueError(f"invalid sdr_fault {name!r}: use one of {', '.join(SDR_FAULTS[1:])} "
                         "or '' (healthy)")
    return name


def _six_bit(text: str) -> bytes:
    """IPMI 6-bit packed ASCII (section 43.15): 4 characters in 3 bytes."""
    codes = [ord(c) - 0x20 for c in text.upper()]
    codes += [0] * (-len(codes) % 4)
    out = bytearray()
    for a, b, c, d in zip(*[iter(codes)] * 4, strict=True):
        out += bytes((a | (b & 0x03) << 6, b >> 2 | (c & 0x0F) << 4, c >> 4 | d << 2))
    return bytes((0x80 | len(out),)) + bytes(out)


def _with_body(record: bytes, body: bytes) -> bytes:
    return record[:4] + bytes((len(body),)) + body


def _fault_records() -> dict[str, tuple[bytes, ...]]:
    cpu = THRESHOLD_SENSORS[0]
    poisoned = _full_record(1, dataclasses.replace(cpu, name=POISON_NAME, m=POISON_M))
    first = RECORDS[0]
    name_at = 5 + 42  # the full record's ID string type/length byte
    return {
        # Same count, same timestamps, same Get Device ID: only the records differ.
        "poison": (poisoned, *RECORDS[1:]),
        # A full sensor record cut short: decoders index past its end.
        "malformed": (_with_body(first, first[5:25]), *RECORDS[1:]),
        # A legal 6-bit packed sensor name, which pyghmi 1.6.19 decodes forever.
        "sixbit": (_with_body(first, first[5:name_at] + _six_bit(cpu.name)), *RECORDS[1:]),
    }


FAULT_RECORDS = _fault_records()


def lookup(fault: str, record_id: int) -> tuple[bytes, int] | None:
    """(record, next record id) for Get SDR under ``fault``; None: no such record."""
    if fault == "endless":  # ids that never repeat and (nearly) never end
        following = record_id + 1 if record_id < 0xFFFE else 0xFFFF
        return struct.pack("<H", record_id) + RECORDS[0][2:], following
    records = FAULT_RECORDS.get(fault, RECORDS)
    if not 1 <= record_id <= len(records):
        return None
    following = record_id + 1 if record_id < len(records) else 0xFFFF
    if fault == "loop" and record_id == 2:
        following = 1  # record 1 -> 2 -> 1 -> 2 ...
    return records[record_id - 1], following


def record_count(fault: str) -> int:
    return len(FAULT_RECORDS.get(fault, RECORDS))
