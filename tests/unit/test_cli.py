"""The command line contract (DESIGN §3): verbs, flags, exit codes, messages, no partial outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import edgeconv
from edgeconv import api, arguments
from edgeconv.cli import cli
from edgeconv.errors import UserError, VerificationFailed

from tests.conftest import TINY_CLASSES, TINY_INPUT_SHAPE

VERBS = ("build", "compress", "inspect", "profile", "targets", "verify")
BOARDS = ("host", "jetson-nano", "jetson-orin-nano", "rpi-zero2w", "rpi3", "rpi4", "rpi5")


def invoke(*args, cwd=None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, [str(a) for a in args])
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, [str(a) for a in args])
    finally:
        os.chdir(old)


def assert_user_error(result, *fragments):
    """Exit 2, the fragments on stderr, no traceback, nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def listing(directory: Path) -> list:
    return sorted(p.name for p in directory.iterdir())


# ---- top level -------------------------------------------------------------------------------


def test_version_and_verbs():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"edgeconv, version {edgeconv.__version__}"
    result = invoke("--help")
    assert result.exit_code == 0
    for verb in VERBS:
        assert f"  {verb} " in result.stdout


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_takes_json_verbose_quiet(verb):
    result = invoke(verb, "--help")
    assert result.exit_code == 0
    for flag in ("--json", "--verbose", "--quiet"):
        assert flag in result.stdout


def test_compress_has_every_contract_flag():
    text = invoke("compress", "--help").stdout
    flags = (
        "--target", "--latency-ms", "--memory-kb", "--data", "--val-data", "--input-shape", "--mean", "--std",
        "--precisions", "--epochs", "--emit", "--c-prefix", "--out", "--force", "--seed", "--latency-table",
        "--trust-pickle", "--calibration", "--batch-size", "--lr",
    )  # fmt: skip
    for flag in flags:
        assert flag in text, flag


# ---- targets and inspect: working verbs ------------------------------------------------------


def test_targets_json_lists_every_board_with_sources():
    result = invoke("targets", "--json")
    assert result.exit_code == 0, result.output
    boards = json.loads(result.stdout)
    assert tuple(b["name"] for b in boards) == BOARDS
    for board in boards:
        assert board["cpu"]["cores"] >= 1 and board["cpu"]["clock_ghz"] > 0
        assert board["cpu"]["source"] and board["memory"]["source"]


def test_targets_table_shows_cpu_and_sources():
    result = invoke("targets")
    assert result.exit_code == 0
    assert "Cortex-A72" in result.stdout and "sources" in result.stdout


def test_inspect_json_counts_layers_and_macs(tiny_onnx_model):
    result = invoke("inspect", tiny_onnx_model, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["input_shape"] == list(TINY_INPUT_SHAPE)
    # Conv 1->4 3x3 pad 1 on 8x8: 4*8*8 outputs of 9 MACs; Linear 4->10: 40 MACs.
    assert report["total_macs"] == 4 * 8 * 8 * 9 + 4 * TINY_CLASSES
    assert report["total_params"] == (4 * 9 + 4) + (TINY_CLASSES * 4 + TINY_CLASSES)
    assert [layer["op"] for layer in report["layers"]][0] == "Conv"
    assert report["target"] is None and report["predicted_ms"] is None


def test_output_flags_before_or_after_the_verb(tiny_onnx_model):
    for args in (("--verbose", "inspect", tiny_onnx_model, "--json"), ("inspect", "-v", tiny_onnx_model, "--json")):
        result = invoke(*args)
        assert result.exit_code == 0 and "loading tiny.onnx" in result.stderr
        json.loads(result.stdout)
    quiet = invoke("--verbose", "inspect", tiny_onnx_model, "--json", "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_inspect_with_target_predicts_milliseconds(tiny_onnx_model):
    report = json.loads(invoke("inspect", tiny_onnx_model, "--target", "rpi4", "--json").stdout)
    assert report["target"] == "rpi4" and report["latency_source"] == "analytical"
    layer_ms = [layer["predicted_ms"] for layer in report["layers"]]
    assert all(ms >= 0 for ms in layer_ms) and report["predicted_ms"] > 0
    assert report["predicted_ms"] == pytest.approx(sum(layer_ms), rel=1e-9)
    assert report["threads"] == 4  # rpi4's cores: the count compress generates the C model for
    table = invoke("inspect", tiny_onnx_model, "--target", "rpi4")
    assert table.exit_code == 0 and "predicted for rpi4 on 4 threads (analytical)" in table.stdout


def test_inspect_threads_are_the_predictions(tiny_onnx_model):
    one = json.loads(invoke("inspect", tiny_onnx_model, "--target", "rpi4", "--threads", "1", "--json").stdout)
    assert one["threads"] == 1 and one["predicted_ms"] > 0
    for args, word in ((("--target", "rpi4", "--threads", "5"), "1..4"), (("--threads", "2"), "--target")):
        result = invoke("inspect", tiny_onnx_model, *args)
        assert result.exit_code == 2 and word in result.output and "Traceback" not in result.output


def test_inspect_refuses_junk_model(tmp_path):
    junk = tmp_path / "model.onnx"
    junk.write_bytes(b"\x00\x01 not a protobuf")
    result = invoke("inspect", junk)
    assert result.exit_code == 2 and "Traceback" not in result.stderr


# ---- argument checking -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, names",
    [
        ("fp32,int8,w4a4,w2a2,w1a1", ("fp32", "int8", "w4a4", "w2a2", "w1a1")),
        ("W2A8, w7a1,int8,int8", ("w2a8", "w7a1", "int8")),
        ("w8a8", ("int8",)),
    ],
)
def test_precisions_parse_to_canonical_names(text, names):
    assert arguments.precisions(text) == names


def test_default_precisions_follow_the_budget():
    assert arguments.default_precisions(None) == ("int8",)
    assert arguments.default_precisions(20.0) == ("fp32", "int8", "w4a4", "w2a2", "w1a1")


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--precisions", "w8a4", "out of range"),
        ("--precisions", "w0a2", "out of range"),
        ("--precisions", "w2a9", "out of range"),
        ("--precisions", "int4", "unknown precision 'int4'"),
        ("--precisions", ",", "--precisions is empty"),
        ("--input-shape", "1,3,x,4", "not a list of integers"),
        ("--input-shape", "2,3,8,8", "must start with batch 1"),
        ("--input-shape", "1,0,8,8", "not positive"),
        ("--input-shape", "1", "2 to 4 dimensions"),
        ("--input-shape", "1,2,3,4,5", "2 to 4 dimensions"),
        ("--latency-ms", "0", "--latency-ms"),
        ("--latency-ms", "-3", "--latency-ms"),
        ("--memory-kb", "0", "--memory-kb"),
        ("--epochs", "-1", "--epochs"),
        ("--emit", "onnx,pdf", "choose among onnx, tflite, c"),
        ("--c-prefix", "9model", "not a C identifier"),
        ("--calibration", "median", "--calibration"),
        ("--batch-size", "0", "--batch-size"),
        ("--lr", "0", "--lr"),
        ("--std", "0.5,0", "must be positive"),
        ("--mean", "a,b", "not a number"),
    ],
)
def test_compress_refuses_bad_values_before_work(tmp_path, tiny_onnx_model, option, value, message):
    out = tmp_path / "out"
    result = invoke("compress", tiny_onnx_model, "--target", "rpi4", "--out", out, option, value)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "verb_args, message",
    [
        (("verify", "{out}", "--runner", "telnet://pi"), "use local, qemu or ssh://user@host[:port]"),
        (("verify", "{out}", "--runner", "ssh://pi@board:99999"), "port 99999 is outside 1..65535"),
        (("profile", "--target", "rpi4", "--runner", "ftp"), "--runner"),
        (("compress", "{missing}", "--target", "rpi4"), "does not exist"),
        (("inspect", "{missing}"), "does not exist"),
        (("build", "{missing}"), "does not exist"),
    ],
)
def test_bad_runner_and_missing_paths(tmp_path, verb_args, message):
    args = [a.format(out=tmp_path, missing=tmp_path / "missing.pt2") for a in verb_args]
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_ssh_runner_syntax_accepted():
    for spec in ("local", "qemu", "ssh://pi@raspberrypi.local", "ssh://pi@10.0.0.2:2222", "ssh://board"):
        assert arguments.runner(spec) == spec


def test_unknown_target_is_refused(tmp_path, tiny_onnx_model):
    result = invoke("compress", tiny_onnx_model, "--target", "nosuchboard", "--out", tmp_path / "o")
    assert_user_error(result, "edgeconv: error: unknown target 'nosuchboard'", "rpi4")
    assert_user_error(invoke("inspect", tiny_onnx_model, "--target", "nosuchboard"), "unknown target")
    assert_user_error(invoke("profile", "--target", "nosuchboard"), "unknown target")


def test_existing_out_refused_without_force(tmp_path, tiny_onnx_model):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke("compress", tiny_onnx_model, "--target", "rpi4", "--data", tmp_path, "--out", out)
    assert_user_error(result, f"output {out} already exists", "--force")
    assert listing(out) == ["keep.txt"]


def test_data_is_required_for_onnx_models(tmp_path, tiny_onnx_model):
    result = invoke("compress", tiny_onnx_model, "--target", "rpi4", "--out", tmp_path / "o")
    assert_user_error(result, "--data is required for tiny.onnx")


def test_build_and_verify_need_a_compress_output(tmp_path):
    assert_user_error(invoke("build", tmp_path), "has no report.json")
    (tmp_path / "report.json").write_text("{not json")
    assert_user_error(invoke("verify", tmp_path), "report.json is not valid JSON")


# ---- data refusals through the command line --------------------------------------------------


def _good_x(n=4):
    return np.random.default_rng(0).standard_normal((n, *TINY_INPUT_SHAPE[1:])).astype(np.float32)


DATA_FAULTS = {
    "wrong shape": (lambda: dict(x=np.zeros((4, 3, 8, 8), np.float32)), "x has shape (4, 3, 8, 8), the model takes (N, 1, 8, 8)"),
    "NaN": (lambda: dict(x=np.where(_good_x() > 1.5, np.nan, _good_x()).astype(np.float32)), "NaN or Inf"),
    "Inf": (lambda: dict(x=np.full((2, 1, 8, 8), -np.inf, np.float32)), "NaN or Inf"),
    "empty": (lambda: dict(x=np.zeros((0, 1, 8, 8), np.float32)), "x holds no samples"),
    "missing x": (lambda: dict(data=_good_x()), "has no array 'x'"),
    "labels outside classes": (lambda: dict(x=_good_x(), y=np.array([0, 1, 2, 10])), "label 10 is outside the model's 10 classes"),
    "label count": (lambda: dict(x=_good_x(), y=np.array([0, 1])), "y has 2 labels for 4 samples"),
    "integer pixels": (lambda: dict(x=np.zeros((4, 1, 8, 8), np.uint8)), "x has dtype uint8"),
}


@pytest.mark.parametrize("option", ["--data", "--val-data"])
@pytest.mark.parametrize("fault", sorted(DATA_FAULTS))
def test_bad_data_exits_2_and_leaves_no_output(tmp_path, tiny_onnx_model, fault, option):
    make_arrays, message = DATA_FAULTS[fault]
    good = tmp_path / "good.npz"
    np.savez(good, x=_good_x())
    bad = tmp_path / "bad.npz"
    np.savez(bad, **make_arrays())
    data_args = ["--data", bad] if option == "--data" else ["--data", good, "--val-data", bad]
    before = listing(tmp_path)
    result = invoke("compress", tiny_onnx_model, "--target", "rpi4", *data_args, "--out", tmp_path / "runs" / "out")
    assert_user_error(result, f"data {bad}", message)
    assert listing(tmp_path) == before  # no output directory, no staging directory, no parents


def test_data_not_a_zip_and_default_out_not_created(tmp_path, tiny_onnx_model):
    bad = tmp_path / "calib.npz"
    bad.write_text("x,y\n1,2\n")
    work = tmp_path / "work"
    work.mkdir()
    result = invoke("compress", tiny_onnx_model, "--target", "rpi4", "--data", bad, cwd=work)
    assert_user_error(result, "calib.npz is not a readable .npz file")
    assert listing(work) == []  # ./edgeconv-out/tiny-rpi4 was never created


def test_bad_image_folder_exits_2(tmp_path, tiny_onnx_model):
    (tmp_path / "images").mkdir()
    result = invoke("compress", tiny_onnx_model, "--target", "rpi4", "--data", tmp_path / "images", "--out", tmp_path / "o")
    assert_user_error(result, "without class subfolders")
    assert not (tmp_path / "o").exists()


# ---- exit codes of the error classes ---------------------------------------------------------


def test_verification_failure_exits_3_and_bug_exits_1(monkeypatch, tmp_path):
    """The mapping itself: VerificationFailed -> 3 with its message; any other exception -> 1."""

    def disagreeing_verify(out, target=None, runner=None, data=None, threads=None):
        raise VerificationFailed("c-host disagrees with the reference executor")

    monkeypatch.setattr(api, "verify", disagreeing_verify)
    result = invoke("verify", tmp_path)
    assert result.exit_code == 3
    assert result.stderr.strip() == "edgeconv: error: c-host disagrees with the reference executor"

    def buggy_targets():
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(api, "targets", buggy_targets)
    result = invoke("targets")
    assert result.exit_code == 1 and isinstance(result.exception, ZeroDivisionError)


def test_user_error_from_python_api_is_the_same_check(tiny_onnx_model, tmp_path):
    with pytest.raises(UserError, match="--latency-ms must be greater than 0"):
        api.compress(tiny_onnx_model, "rpi4", latency_ms=0, data=tmp_path)
    with pytest.raises(UserError, match="must start with batch 1"):
        api.inspect(tiny_onnx_model, input_shape="4,1,8,8")


# ---- the installed console script ------------------------------------------------------------


def _console_script() -> str:
    script = Path(sys.executable).parent / "edgeconv"
    assert script.is_file(), "the edgeconv console script is not installed beside this Python"
    return str(script)


def test_console_script_in_a_subprocess(tmp_path, tiny_onnx_model):
    script = _console_script()
    listed = subprocess.run([script, "targets", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "rpi4" in {b["name"] for b in json.loads(listed.stdout)}

    bad = tmp_path / "calib.npz"
    np.savez(bad, x=np.zeros((3, 1, 7, 7), np.float32))
    refused = subprocess.run(
        [script, "--quiet", "compress", str(tiny_onnx_model), "--target", "rpi4", "--data", str(bad)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"edgeconv: error: data {bad}: x has shape (3, 1, 7, 7), the model takes (N, 1, 8, 8)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib.npz"]


# ---- a whole compress run: the output directory appears complete, once ---------------------


def test_compress_writes_out_then_refuses_it_then_replaces_it_with_force(tmp_path, tiny_onnx_model):
    data = tmp_path / "calib.npz"
    rng = np.random.default_rng(3)
    np.savez(data, x=rng.random((16, *TINY_INPUT_SHAPE[1:]), dtype=np.float32), y=rng.integers(0, TINY_CLASSES, 16))
    out = tmp_path / "out"
    args = ("compress", tiny_onnx_model, "--target", "rpi4", "--data", data, "--precisions", "int8", "--out", out)

    first = invoke(*args, "--json", "--verbose")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)  # stdout is pure JSON; notes went to stderr
    assert report["out"] == str(out) and report["target"] == "rpi4"
    assert f"loading {tiny_onnx_model.name}" in first.stderr
    written = json.loads((out / "report.json").read_text())
    assert written["accuracy"]["data"] == "data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib.npz", "out"]  # no staging left

    assert_user_error(invoke(*args), "already exists")
    (out / "stale.txt").write_text("from an earlier run")
    again = invoke(*args, "--force", "--quiet")
    assert again.exit_code == 0, again.output
    assert again.stderr == "" and f"wrote {out}" in again.stdout
    assert not (out / "stale.txt").exists() and (out / "report.json").is_file()
