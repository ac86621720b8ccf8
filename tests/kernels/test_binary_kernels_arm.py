"""NEON XNOR and bit-serial convolutions (kernels_c/arm): bit-exact with the int8 formula under
qemu (AArch64, and ARMv7 with NEON), over the random shapes and fixed edge cases of
test_binary_kernels.py and the XNOR kernel's packed input and output forms, run by the same C driver."""

import shutil
import subprocess

import pytest

from tests.kernels.test_binary_kernels import (EXTREME_CASES, PACKED_CASES, RANDOM_CASES, SHAPES, Case, build_driver,
                                               check_driver_output, driver_input, random_cases)

# cross compiler -> (flags, emulator, CPU)
TARGETS = {
    "aarch64": ("aarch64-linux-gnu-gcc", ("-static",), "qemu-aarch64", "cortex-a72"),
    "armv7-neon": ("arm-linux-gnueabihf-gcc", ("-static", "-mfpu=neon"), "qemu-arm", "cortex-a15"),
}


def arm_cases() -> list:
    xnor = [Case("xnor", *s, seed=i) for i, s in enumerate(SHAPES)]
    bitserial = [Case("bitserial", *s, act_bits=a, weight_bits=w, in_zp=-128, seed=i)
                 for i, (s, (a, w)) in enumerate(zip(SHAPES, [(1, 1), (2, 2), (4, 4), (3, 2), (8, 1), (2, 4), (2, 2), (1, 1)]))]
    return RANDOM_CASES + EXTREME_CASES + random_cases(11, 16) + xnor + bitserial + PACKED_CASES


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_neon_kernels_are_exact_under_qemu(target, tmp_path):
    cc, flags, emulator, cpu = TARGETS[target]
    for tool in (cc, emulator):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed")
    binary = build_driver(cc, "arm", flags, tmp_path / "driver")
    cases = arm_cases()
    data, expected = driver_input(cases)
    r = subprocess.run([emulator, "-cpu", cpu, str(binary)], input=data, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-4000:]
    check_driver_output(cases, expected, r.stdout)
