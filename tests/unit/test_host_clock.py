"""The measured host clock: the probe's figure, kept once per boot, taken where cpufreq is silent."""

import json
import platform
from pathlib import Path

import pytest

from edgeconv import host_clock, targets
from edgeconv.host_clock import CLOCK_PREFIX, PLAUSIBLE_GHZ, measured_clock_ghz, run_probe
from edgeconv.targets import load_target
from tests.conftest import require_tool


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the probe's additions are x86-64 instructions")
def test_probe_measures_a_plausible_clock():
    require_tool("cc")
    ghz = run_probe()
    assert ghz is not None and PLAUSIBLE_GHZ[0] <= ghz <= PLAUSIBLE_GHZ[1]


@pytest.fixture
def fake_probe(tmp_path, monkeypatch):
    """A boot id file and a probe giving 3.0, 2.5, 2.0, ... GHz, one value per run; the calls are
    counted. The process's memory of earlier answers starts empty."""
    boot = tmp_path / "boot_id"
    boot.write_text("boot-a\n")
    monkeypatch.setattr(host_clock, "BOOT_ID", boot)
    monkeypatch.setattr(host_clock, "_KNOWN", {})
    monkeypatch.setenv("EDGECONV_CACHE_DIR", str(tmp_path / "cache"))
    values = iter((3.0, 2.5, 2.0, 1.5))
    calls = []

    def probe():
        calls.append(1)
        return next(values)

    monkeypatch.setattr(host_clock, "run_probe", probe)
    return boot, calls, tmp_path / "cache"


def test_clock_is_measured_once_per_boot_and_kept_in_the_cache(fake_probe, monkeypatch):
    boot, calls, cache = fake_probe
    assert measured_clock_ghz("cpu X") == 3.0
    assert json.loads((cache / f"{CLOCK_PREFIX}boot-a.json").read_text()) == {"cpu_model": "cpu X", "clock_ghz": 3.0}
    assert measured_clock_ghz("cpu X") == 3.0 and len(calls) == 1
    monkeypatch.setattr(host_clock, "_KNOWN", {})          # another process of the same boot reads the file
    assert measured_clock_ghz("cpu X") == 3.0 and len(calls) == 1
    boot.write_text("boot-b\n")                              # the machine restarted: measured again
    assert measured_clock_ghz("cpu X") == 2.5 and len(calls) == 2
    assert [p.name for p in cache.iterdir()] == [f"{CLOCK_PREFIX}boot-b.json"]
    assert measured_clock_ghz("cpu X", refresh=True) == 2.0 and len(calls) == 3
    monkeypatch.setattr(host_clock, "_KNOWN", {})
    assert measured_clock_ghz("cpu X") == 2.0 and len(calls) == 3


def test_the_first_stored_clock_of_a_boot_wins(fake_probe, monkeypatch):
    boot, calls, cache = fake_probe
    cache.mkdir()
    stored = cache / f"{CLOCK_PREFIX}boot-a.json"
    stored.write_text(json.dumps({"cpu_model": "cpu X", "clock_ghz": 3.3}))
    host_clock._store(stored, {"cpu_model": "cpu X", "clock_ghz": 2.9}, replace_stored=False)
    assert json.loads(stored.read_text())["clock_ghz"] == 3.3
    stored.write_text("{not json")                           # an unreadable record is replaced
    assert measured_clock_ghz("cpu X") == 3.0 and json.loads(stored.read_text())["clock_ghz"] == 3.0
    assert sorted(p.name for p in cache.iterdir()) == [stored.name]


def test_no_clock_where_the_probe_cannot_run(fake_probe, monkeypatch):
    monkeypatch.setattr(host_clock, "run_probe", lambda: None)
    assert measured_clock_ghz("cpu X") is None


@pytest.mark.parametrize("max_khz, measured, expected", [
    ("4200000", 3.3, 4.2),      # cpufreq's highest clock
    (None, 3.3, 3.3),           # no cpufreq (a virtual machine): the measured clock
    (None, None, 2.1),          # nothing measured: /proc/cpuinfo's cpu MHz
])
def test_host_clock_source(tmp_path, monkeypatch, max_khz, measured, expected):
    sys_cpu0 = tmp_path / "cpu0"
    (sys_cpu0 / "cpufreq").mkdir(parents=True)
    if max_khz:
        (sys_cpu0 / "cpufreq" / "cpuinfo_max_freq").write_text(max_khz + "\n")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: Some CPU\ncpu MHz\t\t: 2100.000\nflags\t\t: sse2 avx2\n")
    monkeypatch.setattr(targets, "_SYS_CPU0", sys_cpu0)
    monkeypatch.setattr(targets, "_PROC_CPUINFO", cpuinfo)
    asked = []
    monkeypatch.setattr(targets, "measured_clock_ghz", lambda model: asked.append(model) or measured)
    host = load_target("host")
    assert host.cpu.clock_ghz == pytest.approx(expected) and "cpu.clock_ghz" in host.detected
    assert asked == ([] if max_khz else ["Some CPU"])
