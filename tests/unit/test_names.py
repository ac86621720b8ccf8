"""Names that become paths (edgeconv.names) and every place a name is used in one: the default
OUT of ``compress``, the runner directory of ``build``, ``--c-prefix``, and layer names in the
generated C files."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeconv import api
from edgeconv.backends.c import build_host, generate
from edgeconv.errors import UserError
from edgeconv.ir import ops
from edgeconv.names import MAX_NAME_LENGTH, check_path_component, is_path_component, path_component_from
from tests.kernels.qgraphs import GraphBuilder

ESCAPING_NAME = "x/../../../ESC1"


@pytest.mark.parametrize("name", ["rpi4", "jetson-orin-nano", "my_board.v2", "a" * MAX_NAME_LENGTH])
def test_plain_names_are_path_components(name):
    assert is_path_component(name) and check_path_component(name, "target name") == name


@pytest.mark.parametrize("name", [ESCAPING_NAME, "", ".", "..", "a..b", "a/b", "a\\b", "/abs", "tab\tname", "nul\0",
                                  "caf\u00e9", "a" * (MAX_NAME_LENGTH + 1), None, 3])
def test_other_names_are_refused_with_a_sentence_naming_them(name):
    assert not is_path_component(name)
    with pytest.raises(UserError, match=r"^boards/x.toml: target name .* cannot be used in a file name: use 1 to 200"):
        check_path_component(name, "boards/x.toml: target name")


@pytest.mark.parametrize("text, expected", [
    ("model", "model"), ("my model (v2)", "my_model__v2_"), ("..", "model"), ("a/../b", "a_._b"),
    ("..hidden..", "hidden"), ("caf\u00e9", "caf_"), ("", "model"),
])  # fmt: skip
def test_free_text_becomes_a_plain_component(text, expected):
    assert path_component_from(text) == expected


def test_free_text_is_cut_to_the_room_it_has():
    assert path_component_from("x" * 500) == "x" * MAX_NAME_LENGTH
    assert path_component_from("abcdef", 3) == "abc"
    assert path_component_from("ab.cdef", 3) == "ab"  # never ends in a dot
    assert path_component_from("abc", 0) == "a" and path_component_from("", 0) == "m"


# ---- compress: the default OUT -------------------------------------------------------------------


@pytest.fixture(scope="module")
def host():
    return api.load_target("host")


def test_default_out_stays_under_edgeconv_out(host):
    assert api.default_out(Path("models/net.onnx"), host) == Path("edgeconv-out/net-host")
    odd = api.default_out(Path("my model (v2)..onnx"), host)
    assert odd == Path("edgeconv-out/my_model__v2_-host")
    long = api.default_out(Path("m" * 250 + ".onnx"), host)
    assert long.parent == Path("edgeconv-out") and len(long.name) == MAX_NAME_LENGTH and long.name.endswith("-host")


def test_a_target_name_that_leaves_its_directory_cannot_be_made(host):
    """The check is in Target itself: a board TOML and a Target made in Python alike."""
    with pytest.raises(UserError, match=r"host.toml: key name 'x/\.\./\.\./\.\./ESC1' cannot be used"):
        dataclasses.replace(host, name=ESCAPING_NAME)


def test_compress_with_an_escaping_target_name_writes_nothing(tmp_path, tiny_onnx_model, host, monkeypatch):
    work = tmp_path / "a" / "b" / "c" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    np.savez(work / "calib.npz", x=np.zeros((4, 1, 8, 8), np.float32))
    with pytest.raises(UserError, match="cannot be used in a file name"):
        api.compress(tiny_onnx_model, dataclasses.replace(host, name=ESCAPING_NAME), data=work / "calib.npz")
    assert sorted(p.name for p in work.iterdir()) == ["calib.npz"]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["a", "a/b", "a/b/c", "a/b/c/work",
                                                                                  "a/b/c/work/calib.npz"]


# ---- build: OUT/build/<target>/ ------------------------------------------------------------------


def test_build_refuses_an_escaping_target_name_before_creating_anything(tmp_path, host):
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    (out / "report.json").write_text(json.dumps({"target": "host"}))
    with pytest.raises(UserError, match="key name 'x/../../../ESC1' cannot be used in a file name"):
        api.build(out, target=dataclasses.replace(host, name=ESCAPING_NAME))
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["deep", "deep/out",
                                                                                  "deep/out/report.json"]


# ---- --c-prefix ----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["../../evil_", "a/b", "", "1x", "x" * 10 + "/"])
def test_a_c_prefix_that_is_not_an_identifier_is_refused(tmp_path, tiny_onnx_model, prefix):
    with pytest.raises(UserError, match="--c-prefix"):
        api.compress(tiny_onnx_model, "host", data=tmp_path, c_prefix=prefix, out=tmp_path / "out")
    with pytest.raises(UserError, match="C prefix"):
        generate(GraphBuilder((1, 1, 4, 4)).finish(), tmp_path / "c", prefix=prefix)
    assert not (tmp_path / "out").exists() and not (tmp_path / "c").exists()


# ---- layer names inside the generated C ----------------------------------------------------------

HOSTILE_LAYER_NAMES = [
    'conv */ int injected = 1; /* x',
    "quote\" back\\slash ??/ trigraph\nnew line\r\x01",
    "caf\u00e9 \u2603",
]


def test_layer_names_from_the_model_cannot_break_the_generated_c(tmp_path):
    b = GraphBuilder((1, 2, 6, 6), seed=4)
    b.quantize()
    b.conv(4, clamp=(0.0, None))
    b.same_quant(ops.MaxPool(kernel=(2, 2), stride=(2, 2), pads=(0, 0, 0, 0)))
    b.dequantize()
    graph = b.finish()
    for node, name in zip(graph.nodes[1:], HOSTILE_LAYER_NAMES):
        node.name = name
    graph.name = "model */ with\nodd name"
    generate(graph, tmp_path / "c", command_line="edgeconv compress 'a */ b'")
    for generated in ("model.c", "model.h", "Makefile", "CMakeLists.txt"):
        text = (tmp_path / "c" / generated).read_text()
        assert "\r" not in text and "\x01" not in text and "odd name" in text.splitlines()[0]
    assert "    /* conv * / int injected = 1; / * x: " in (tmp_path / "c" / "model.c").read_text()
    # strict flags and trigraphs on: an escaped comment or literal would not compile
    binary, _ = build_host(tmp_path / "c", tmp_path / "edgeconv_run", profile=True,  # per-layer names in the timing
                           flags=("-Wall", "-Wextra", "-Werror", "-pedantic", "-trigraphs"))
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 6, 6), np.float32))
    run = subprocess.run([str(binary), "--timing", str(tmp_path / "t.json"), str(tmp_path / "x.npy"),
                          str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    timed = json.loads((tmp_path / "t.json").read_text())["per_layer_ms"]
    assert [n for n in timed if n in HOSTILE_LAYER_NAMES] == HOSTILE_LAYER_NAMES  # exact, byte for byte
