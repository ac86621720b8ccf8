"""Board files: every bundled target loads, carries sourced figures, builds and emulates; bad files are refused."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeconv.errors import UserError
from edgeconv.kernels.isa import target_kernel_set
from edgeconv.kernels.registry import BY_NAME, KERNELS
from edgeconv.targets import PEAK_PRECISIONS, list_targets, load_target, targets_dir

BUNDLED = ("host", "rpi3", "rpi4", "rpi5", "rpi-zero2w", "jetson-nano", "jetson-orin-nano")
ARM = tuple(n for n in BUNDLED if n != "host")


def test_every_required_board_is_bundled():
    assert {t.name for t in list_targets()} == set(BUNDLED)
    for name in BUNDLED:
        assert (targets_dir() / f"{name}.toml").is_file()


@pytest.mark.parametrize("name", BUNDLED)
def test_board_has_sourced_peak_figures(name):
    target = load_target(name)
    assert target.name == name
    for precision in PEAK_PRECISIONS:
        peak = target.peak(precision)
        assert peak.mac_per_cycle > 0 and len(peak.source) > 20
    for section in (target.cpu, target.caches, target.memory, target.latency):
        assert len(section.source) > 20
    json.dumps(target.to_dict())  # what `edgeconv targets --json` prints


def test_documented_figures_of_the_boards():
    rpi4 = load_target("rpi4")
    assert (rpi4.cpu.model, rpi4.cpu.cores, rpi4.cpu.clock_ghz) == ("Cortex-A72", 4, 1.5)
    assert rpi4.memory.bandwidth_gbs == 5.5
    assert rpi4.peak("fp32").mac_per_cycle * 2 * rpi4.cpu.clock_ghz == pytest.approx(12.0)  # 12 GFLOP/s per core
    assert "dotprod" not in rpi4.cpu.features
    assert (rpi4.qemu.binary, rpi4.qemu.cpu) == ("qemu-aarch64", "cortex-a72")
    rpi3 = load_target("rpi3")
    assert rpi3.os_bits == 32 and rpi3.toolchain.triple == "arm-linux-gnueabihf"
    assert rpi3.toolchain.zig_target == "arm-linux-musleabihf"
    assert {"-mcpu=cortex-a53", "-mfpu=neon-fp-armv8", "-mfloat-abi=hard"} <= set(rpi3.toolchain.cflags)
    assert (rpi3.qemu.binary, rpi3.qemu.cpu) == ("qemu-arm", "max")
    assert load_target("jetson-orin-nano").qemu.cpu == "max"
    assert load_target("jetson-nano").qemu.cpu == "cortex-a57"
    assert load_target("rpi-zero2w").qemu.cpu == "cortex-a53"
    rpi5 = load_target("rpi5")
    assert "dotprod" in rpi5.cpu.features and rpi5.qemu.cpu == "cortex-a76"
    assert rpi5.peak("int8").requires == ("dotprod",)


def test_a_board_naming_its_own_arm_figures_has_them_under_its_level():
    # [latency] arm_figures: "<ARM level>@<core and build>", fitted by bench/arm/fit_arm_costs.py for
    # every kernel and op it fits on the levels (all but the int8 resize, fitted alone on rpi4 and
    # rpi5 by fit_resize_costs.py); every such key in the registry belongs to a bundled board
    keys = {key for k in KERNELS for key in [*k.arm_element, *(k.cost.arm if k.cost else {})]}
    named = {}
    for name in ARM:
        target = load_target(name)
        if target.latency.arm_figures:
            named[target.latency.arm_figures] = name
            level, _, core = target.latency.arm_figures.partition("@")
            assert level == target_kernel_set(target).level and core
    assert named == {"arm@cortex-a53": "rpi-zero2w", "arm@cortex-a53-armv7": "rpi3"}
    assert {key for key in keys if "@" in key} == set(named)
    neon = [k for k in KERNELS if k.cost and "arm" in k.cost.arm]
    ops = [k for k in KERNELS if "arm" in k.arm_element and k.name != "ec_s8_resize_bilinear"]
    assert BY_NAME["ec_f32_conv2d_1x1"] in neon and BY_NAME["ec_f32_maxpool2d"] in ops
    for key in named:
        assert all(key in k.cost.arm for k in neon) and all(key in k.arm_element for k in ops)


def test_peak_follows_isa_features(tmp_path):
    text = (targets_dir() / "rpi5.toml").read_text()
    board = tmp_path / "a76-without-dotprod.toml"
    board.write_text(text.replace('features = ["neon", "crc32", "fp16", "dotprod"]', 'features = ["neon"]'))
    assert load_target("rpi5").peak("int8").mac_per_cycle == 32.0
    assert load_target(board).peak("int8").mac_per_cycle == 16.0


def test_host_values_are_read_from_this_machine():
    host = load_target("host")
    assert host.is_host and host.qemu is None
    assert host.cpu.cores == len(os.sched_getaffinity(0))
    assert "cpu.cores" in host.detected
    cpuinfo = Path("/proc/cpuinfo").read_text()
    flags = set(re.search(r"^flags\s*:(.*)$", cpuinfo, re.M).group(1).split())
    assert set(host.cpu.features) <= flags
    assert ("avx2" in flags) == ("avx2" in host.cpu.features)
    assert host.cpu.clock_ghz > 0.2


@pytest.mark.parametrize("name", ARM)
def test_cross_compiler_accepts_board_flags(name, tmp_path):
    target = load_target(name)
    cc = shutil.which(f"{target.toolchain.triple}-gcc")
    assert cc, f"{target.toolchain.debian_package} is not installed"
    src = tmp_path / "dot.c"
    src.write_text("int dot(const signed char *a, const signed char *b, int n)"
                   "{int s=0; for(int i=0;i<n;i++) s+=a[i]*b[i]; return s;}\n")
    subprocess.run([cc, *target.toolchain.cflags, "-c", str(src), "-o", str(tmp_path / "dot.o")], check=True)
    assert shutil.which(target.qemu.binary), f"{target.qemu.binary} is not installed"


def test_qemu_knows_each_boards_cpu():
    for name in ARM:
        target = load_target(name)
        listing = subprocess.run([target.qemu.binary, "-cpu", "help"], capture_output=True, text=True).stdout
        assert target.qemu.cpu in listing.split(), (name, target.qemu.cpu)


def test_user_board_by_path(tmp_path):
    board = tmp_path / "myboard.toml"
    board.write_text((targets_dir() / "rpi4.toml").read_text().replace('name = "rpi4"', 'name = "myboard"'))
    target = load_target(str(board))
    assert target.name == "myboard" and target.path == board


def _broken(tmp_path, old, new):
    text = (targets_dir() / "rpi4.toml").read_text()
    assert old in text
    board = tmp_path / "broken.toml"
    board.write_text(text.replace(old, new, 1))
    return board


@pytest.mark.parametrize("old,new,named", [
    ("clock_ghz = 1.5", 'clock_ghz = "fast"', "cpu.clock_ghz"),
    ("clock_ghz = 1.5\n", "", "cpu.clock_ghz"),
    ("cores = 4", "cores = 0", "cpu.cores"),
    ("bandwidth_gbs = 5.5", "bandwidth_gbs = -1", "memory.bandwidth_gbs"),
    ('precision = "int8"', 'precision = "int4"', "peak[1].precision"),
    ("os_bits = 64", "os_bits = 16", "os_bits"),
    ('cflags = ["-O2", "-mcpu=cortex-a72"]', 'cflags = "-O2"', "toolchain.cflags"),
    ("parallel_efficiency = 0.85", "parallel_efficiency = 1.5", "latency.parallel_efficiency"),
    ("[qemu]\nbinary", "[qemu]\nbinry", "qemu.binary"),
    ("clock_ghz = 1.5", "clock_ghz = nan", "cpu.clock_ghz"),
    ("bandwidth_gbs = 5.5", "bandwidth_gbs = inf", "memory.bandwidth_gbs"),
    ("parallel_efficiency = 0.85", "parallel_efficiency = -nan", "latency.parallel_efficiency"),
    ("mac_per_cycle = 64.0", "mac_per_cycle = +inf", "mac_per_cycle"),
    ('name = "rpi4"', 'name = "x/../../../ESC1"', "key name 'x/../../../ESC1'"),
])
def test_bad_board_file_names_file_and_key(tmp_path, old, new, named):
    board = _broken(tmp_path, old, new)
    with pytest.raises(UserError) as err:
        load_target(board)
    assert str(board) in str(err.value) and named in str(err.value)


def test_missing_baseline_peak_is_refused(tmp_path):
    board = _broken(tmp_path, 'precision = "binary"\nmac_per_cycle = 64.0\n', 'precision = "binary"\nmac_per_cycle = 64.0\nrequires = ["sve"]\n')
    with pytest.raises(UserError, match="binary"):
        load_target(board)


def test_unknown_name_and_bad_toml(tmp_path):
    with pytest.raises(UserError, match="unknown target 'rpi9'.*rpi4"):
        load_target("rpi9")
    junk = tmp_path / "junk.toml"
    junk.write_text("name = [unclosed\n")
    with pytest.raises(UserError, match="not valid TOML"):
        load_target(junk)
    with pytest.raises(UserError, match="does not exist"):
        load_target(tmp_path / "absent.toml")


def test_layer_overhead_without_an_upper_bound_is_still_finite(tmp_path):
    text = (targets_dir() / "rpi4.toml").read_text()
    board = tmp_path / "board.toml"
    board.write_text(re.sub(r"layer_overhead_cycles = [0-9.]+", "layer_overhead_cycles = inf", text, count=1))
    with pytest.raises(UserError, match="latency.layer_overhead_cycles must be a finite number, got inf"):
        load_target(board)


def test_a_directory_is_not_a_board(tmp_path, monkeypatch):
    with pytest.raises(UserError, match=f"target {re.escape(str(tmp_path))} is a directory, not a board name or a board .toml file"):
        load_target(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "boards").mkdir()
    with pytest.raises(UserError, match="target boards is a directory"):
        load_target("boards")
    (tmp_path / "rpi4").mkdir()
    assert load_target("rpi4").name == "rpi4", "a bundled board's name wins over a folder of that name"


def test_schema_documents_every_key():
    schema = (targets_dir() / "SCHEMA.md").read_text()
    for name in BUNDLED:
        text = (targets_dir() / f"{name}.toml").read_text()
        for key in re.findall(r"^([a-z_0-9]+)\s*=", text, re.M):
            assert f"`{key}`" in schema, (name, key)
        for table in re.findall(r"^\[+([a-z_]+)\]+", text, re.M):
            assert f"[{table}]" in schema, (name, table)
