"""edgeconv.outdir: outputs appear whole or not at all."""

from __future__ import annotations

import pytest

from edgeconv.errors import UserError
from edgeconv.outdir import check_free, staged_directory, staged_file


def test_success_renames_the_staging_directory(tmp_path):
    out = tmp_path / "runs" / "model-rpi4"
    with staged_directory(out) as staging:
        assert staging.parent == out.parent and staging != out and not out.exists()
        (staging / "report.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["model-rpi4"]
    assert oct(out.stat().st_mode & 0o777) == "0o755"


def test_failure_leaves_nothing_not_even_new_parents(tmp_path):
    out = tmp_path / "runs" / "deeper" / "model-rpi4"
    with pytest.raises(RuntimeError, match="half-way"):
        with staged_directory(out) as staging:
            (staging / "model.onnx").write_bytes(b"partial")
            raise RuntimeError("half-way")
    assert list(tmp_path.iterdir()) == []


def test_existing_out_refused_then_replaced_with_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(UserError, match="already exists; choose another --out or pass --force"):
        with staged_directory(out):
            pytest.fail("the body must not run")
    assert (out / "old.txt").read_text() == "old"

    with pytest.raises(ValueError):
        with staged_directory(out, force=True) as staging:
            (staging / "new.txt").write_text("new")
            raise ValueError("the new run fails")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]  # the old output survives a failed run

    with staged_directory(out, force=True) as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_file_in_the_way_is_refused_even_with_force(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(UserError, match="is not a directory"):
        check_free(tmp_path / "out", force=True)


def test_staged_file_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "verify.json"
    target.write_text("old")
    with pytest.raises(KeyError):
        with staged_file(target) as temporary:
            temporary.write_text("half")
            raise KeyError("broken")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verify.json"]
    with staged_file(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verify.json"]
