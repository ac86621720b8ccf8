"""The CPUID mask that runs LiteRT at a lower x86 level for ``bench/bench_levels.py``
(``bench/cpuid_level.c``, ``bench/masked_peers.py``): a program started under it sees the level's
feature bits, LiteRT timed under it reports the view it ran with, and a CPU that cannot make CPUID
fault is refused with its reason, never timed at its own level."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import masked_peers  # noqa: E402

MLPERF_IC = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny" / "ic_resnet8_int8.tflite"
CAN_MASK = platform.machine() == "x86_64" and masked_peers.cpu_can_fault_cpuid()
CAN_MASK_AVX512 = CAN_MASK and "avx512f" in Path("/proc/cpuinfo").read_text().split()
VIEW_PROGRAM = r"""
#include <cpuid.h>
#include <stdio.h>
int main(void) {
    unsigned a, b, c, d;
    __cpuid_count(1, 0, a, b, c, d);
    int avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    __cpuid_count(7, 0, a, b, c, d);
    printf("avx=%d fma=%d avx2=%d avx512f=%d avx512bw=%d vnni=%d amx=%d\n", avx, fma, (b >> 5) & 1, (b >> 16) & 1,
           (b >> 30) & 1, (c >> 11) & 1, (d >> 25) & 1);
    return 0;
}
"""


def _flags() -> set:
    return set(Path("/proc/cpuinfo").read_text().split())


def _view(tmp_path: Path, level) -> str:
    source, binary = tmp_path / "view.c", tmp_path / "view"
    if not binary.exists():
        source.write_text(VIEW_PROGRAM)
        subprocess.run(["cc", "-O1", "-o", str(binary), str(source)], check=True)
    env = {**os.environ, "LD_PRELOAD": str(masked_peers.shim_library())}
    if level is not None:
        env[masked_peers.LEVEL_ENV] = level
    return subprocess.run([str(binary)], env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(not CAN_MASK, reason="needs an x86-64 CPU with the cpuid_fault flag; "
                                         "test_a_cpu_that_cannot_fault_cpuid_is_refused covers the others")
def test_each_level_sees_only_its_feature_bits(tmp_path):
    flags = _flags()
    if not {"avx2", "fma"} <= flags:
        pytest.skip("the masks clear bits: this CPU lacks the AVX2 bits the avx2 view keeps")
    unmasked = _view(tmp_path, None)
    assert unmasked.startswith("avx=1 fma=1 avx2=1")
    assert _view(tmp_path, "avx2") == "avx=1 fma=1 avx2=1 avx512f=0 avx512bw=0 vnni=0 amx=0"
    assert _view(tmp_path, "sse4.1") == "avx=0 fma=0 avx2=0 avx512f=0 avx512bw=0 vnni=0 amx=0"
    if {"avx512f", "avx512bw"} <= flags:
        assert _view(tmp_path, "avx512") == "avx=1 fma=1 avx2=1 avx512f=1 avx512bw=1 vnni=0 amx=0"
    if {"avx512f", "avx512bw", "avx512_vnni"} <= flags:
        assert _view(tmp_path, "avx512-vnni") == "avx=1 fma=1 avx2=1 avx512f=1 avx512bw=1 vnni=1 amx=0"


@pytest.mark.skipif(not CAN_MASK_AVX512, reason="needs an AVX-512 x86-64 CPU with the cpuid_fault flag")
def test_litert_under_the_avx2_mask_reports_its_view_and_times():
    timer = masked_peers.MaskedTimer(MLPERF_IC, "litert-xnnpack", "avx2")
    try:
        median, minimum, calls = timer.round()
    finally:
        timer.close()
    assert timer.view == {"avx2": 1, "avx512f": 0, "avx512_vnni": 0, "amx_int8": 0}
    assert 0 < minimum <= median and calls >= 10


def test_a_cpu_that_cannot_fault_cpuid_is_refused(monkeypatch):
    masked_peers.shim_library.cache_clear()
    monkeypatch.setattr(masked_peers, "cpu_can_fault_cpuid", lambda: False)
    try:
        with pytest.raises(masked_peers.MaskUnavailable, match="cannot make CPUID fault"):
            masked_peers.MaskedTimer(MLPERF_IC, "litert-xnnpack", "avx2")
    finally:
        masked_peers.shim_library.cache_clear()


def test_an_unknown_level_is_refused():
    with pytest.raises(masked_peers.MaskUnavailable, match="no CPUID mask for level 'avx512-amx'"):
        masked_peers.MaskedTimer(MLPERF_IC, "litert-xnnpack", "avx512-amx")
