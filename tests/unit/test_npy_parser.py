"""The runner's .npy parser (runtimes/c/npy.c) under AddressSanitizer and UBSan: valid files parse
to the right shape and dtype; hundreds of malformed, truncated, mutated or oversized files are
refused with a message, never a crash."""

import subprocess

import numpy as np
import pytest

from edgeconv.resources import runtimes_c_dir

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "npy.h"
/* For each file: "ok <dtype> <rank> <dims...> <first byte>" or "refused <message>". */
int main(int argc, char **argv)
{
    int i, d;
    for (i = 1; i < argc; ++i) {
        unsigned char *file;
        ec_npy_info_t info;
        char err[128];
        if (ec_npy_read(argv[i], (size_t)1 << 20, &file, &info, err, sizeof err) != 0) {
            printf("refused %s\n", err);
            continue;
        }
        printf("ok %d %d", (int)info.dtype, (int)info.rank);
        for (d = 0; d < info.rank; ++d) {
            printf(" %lld", (long long)info.shape[d]);
        }
        printf(" %d\n", info.count ? (int)file[info.data_offset] : -1);
        free(file);
    }
    return 0;
}
"""
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    d = tmp_path_factory.mktemp("npy")
    (d / "harness.c").write_text(HARNESS)
    src = runtimes_c_dir()
    out = d / "npy_check"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", *SANITIZE, f"-I{src}",
                    str(d / "harness.c"), str(src / "npy.c"), "-o", str(out)], check=True, capture_output=True)
    return out


def check(harness, paths):
    r = subprocess.run([str(harness), *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ERROR" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert len(lines) == len(paths)
    return lines


def npy_bytes(arr) -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_valid_files_parse(harness, tmp_path):
    arrays = [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.full((5,), -7, dtype=np.int8),
              np.zeros((0, 3), dtype=np.float32), np.ones((1, 1, 1, 1, 2), dtype=np.int8), np.float32(3.0).reshape(())]
    paths = []
    for i, a in enumerate(arrays):
        p = tmp_path / f"v{i}.npy"
        np.save(p, a)
        paths.append(p)
    lines = check(harness, paths)
    assert lines[0].startswith("ok 0 3 2 3 4 ")
    assert lines[1] == "ok 1 1 5 249"
    assert lines[2] == "ok 0 2 0 3 -1"
    assert lines[3].startswith("ok 1 5 1 1 1 1 2")
    assert lines[4].startswith("ok 0 0 ")


def test_specific_bad_files_are_refused(harness, tmp_path):
    good = npy_bytes(np.arange(12, dtype=np.float32).reshape(3, 4))
    header_end = good.index(b"\n") + 1
    cases = {
        "truncated_data": good[:-1],
        "extra_data": good + b"\0",
        "truncated_header": good[:20],
        "empty": b"",
        "bad_magic": b"\x93NUMPX" + good[6:],
        "version_9": good[:6] + b"\x09\x00" + good[8:],
        "float64": npy_bytes(np.zeros(3, dtype=np.float64)),
        "int16": npy_bytes(np.zeros(3, dtype=np.int16)),
        "big_endian": npy_bytes(np.zeros(3, dtype=">f4")),
        "fortran": npy_bytes(np.asfortranarray(np.zeros((2, 3), dtype=np.float32))),
        "object": good.replace(b"'<f4'", b"'|O8'"),
        "huge_shape": good.replace(b"(3, 4)", b"(9999999999999999999999, 4)"),
        "oversized": good.replace(b"(3, 4)", b"(2000, 2000)"),
        "negative_dim": good.replace(b"(3, 4)", b"(-3, 4)"),
        "no_newline": good[:header_end - 1] + b" " + good[header_end:],
        "unknown_key": good.replace(b"'fortran_order': False", b"'fortran_order': False, 'x': 1"),
        "header_len_huge": good[:8] + b"\xff\xff" + good[10:],
    }
    paths = []
    for name, data in cases.items():
        p = tmp_path / f"{name}.npy"
        p.write_bytes(data)
        paths.append(p)
    lines = check(harness, paths)
    for name, line in zip(cases, lines):
        assert line.startswith("refused "), f"{name}: {line}"
    by_name = dict(zip(cases, lines))
    assert "truncated" in by_name["truncated_data"] and "after its data" in by_name["extra_data"]
    assert "dtype" in by_name["float64"] and "Fortran" in by_name["fortran"]


def test_a_directory_is_named_a_directory(harness, tmp_path):
    (tmp_path / "folder.npy").mkdir()
    assert check(harness, [tmp_path / "folder.npy"]) == ["refused is a directory, not a .npy file"]


def test_fuzzed_mutations_never_crash(harness, tmp_path):
    rng = np.random.default_rng(1234)
    seeds = [npy_bytes(np.arange(60, dtype=np.float32).reshape(3, 4, 5)), npy_bytes(np.arange(-5, 5, dtype=np.int8)),
             npy_bytes(np.zeros((2, 2), dtype=np.float32))]
    paths, kinds = [], []
    for i in range(400):
        data = bytearray(seeds[i % len(seeds)])
        kind = i % 5
        if kind == 0:  # flip random bits anywhere
            for _ in range(rng.integers(1, 4)):
                pos = int(rng.integers(0, len(data)))
                data[pos] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:  # overwrite header bytes with random printable text
            header_end = data.index(b"\n")
            for _ in range(rng.integers(1, 6)):
                pos = int(rng.integers(10, header_end))
                data[pos] = int(rng.integers(32, 127))
        elif kind == 2:  # truncate
            data = data[: int(rng.integers(0, len(data)))]
        elif kind == 3:  # append junk
            data += bytes(rng.integers(0, 256, size=int(rng.integers(1, 40)), dtype=np.uint8))
        else:  # random header length field
            data[8:10] = bytes(rng.integers(0, 256, size=2, dtype=np.uint8))
        p = tmp_path / f"f{i}.npy"
        p.write_bytes(bytes(data))
        paths.append(p)
        kinds.append(kind)
    lines = check(harness, paths)
    refused = sum(line.startswith("refused ") for line in lines)
    assert refused > 300
    for kind, line in zip(kinds, lines):
        assert line.startswith(("ok ", "refused "))
        if kind in (2, 3):  # a truncated or extended file can never be accepted
            assert line.startswith("refused "), line
