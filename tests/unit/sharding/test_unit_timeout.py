"""systemd time spans and the TimeoutStopSec a unit plus its drop-ins end up with."""

from __future__ import annotations

import math

import pytest

from ironic_scale.sharding.confload import ConfigError
from ironic_scale.sharding.unit_timeout import DEFAULT_TIMEOUT_STOP, parse_timespan, stop_timeout


@pytest.mark.parametrize("text, seconds", [
    ("90", 90), ("90s", 90), ("1min 30s", 90), ("1min30s", 90), ("1m 30", 90), ("1.5min", 90),
    ("2h", 7200), ("1h 2min 3s", 3723), ("500ms", 0.5), ("250 msec", 0.25), ("1d", 86400), ("1w", 604800),
    ("3 seconds", 3), ("2 minutes", 120), ("100us", 1e-4), (" 15 ", 15), ("0", 0),
])
def test_parse_timespan(text, seconds):
    assert parse_timespan(text) == pytest.approx(seconds)


def test_infinity():
    assert parse_timespan("infinity") == math.inf


@pytest.mark.parametrize("text", ["", "soon", "5 parsecs", "1min x", "-5", "1..5s", "s"])
def test_parse_timespan_rejects(text):
    with pytest.raises(ValueError):
        parse_timespan(text)


def _unit(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_no_assignment_is_systemds_default(tmp_path):
    unit = _unit(tmp_path, "u.service", "[Service]\nExecStart=/bin/true\n# TimeoutStopSec=5\n")
    assert stop_timeout([unit]).seconds == DEFAULT_TIMEOUT_STOP == 90
    assert stop_timeout([]).source == "systemd's default"


def test_the_last_assignment_wins_and_timeoutsec_sets_stop_too(tmp_path):
    unit = _unit(tmp_path, "u.service", "[Service]\nTimeoutStopSec=15\nTimeoutSec=2min\n")
    assert stop_timeout([unit]).seconds == 120
    drop = _unit(tmp_path, "d.conf", "[Unit]\nTimeoutStopSec=1\n[Service]\nTimeoutStopSec=1min 40s\n")
    result = stop_timeout([unit, drop])
    assert (result.seconds, result.source) == (100, f"{drop}:4")


def test_an_empty_assignment_resets_to_the_default(tmp_path):
    unit = _unit(tmp_path, "u.service", "[Service]\nTimeoutStopSec=15\n")
    drop = _unit(tmp_path, "d.conf", "[Service]\nTimeoutStopSec=\n")
    assert stop_timeout([unit, drop]).seconds == 90


def test_zero_means_no_timeout(tmp_path):
    unit = _unit(tmp_path, "u.service", "[Service]\nTimeoutStopSec=0\n")
    assert stop_timeout([unit]).seconds == math.inf


def test_continuation_lines(tmp_path):
    unit = _unit(tmp_path, "u.service", "[Service]\nExecStart=/usr/bin/ironic-conductor \\\n"
                                        "  --config-file x\nTimeoutStopSec=1min \\\n 5s\n")
    assert stop_timeout([unit]).seconds == 65


def test_not_key_value(tmp_path):
    unit = _unit(tmp_path, "u.service", "[Service]\nTimeoutStopSec 15\n")
    with pytest.raises(ConfigError, match=r"u.service:2: not KEY=VALUE"):
        stop_timeout([unit])
