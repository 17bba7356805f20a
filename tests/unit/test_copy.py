"""Sparse copies: only allocated extents travel, holes stay holes, the copy
appears under its name only when complete, and a larger size extends it."""

import errno
import os

import pytest

from volume.drivers import copy

MIB = 1024 * 1024


@pytest.fixture
def sparse(tmp_path):
    path = tmp_path / "source"
    with open(path, "wb") as f:
        f.truncate(256 * MIB)
        f.seek(10 * MIB)
        f.write(b"a" * MIB)
        f.seek(200 * MIB)
        f.write(b"b" * MIB)
    return path


def test_extents_are_the_written_runs(sparse):
    with open(sparse, "rb") as f:
        runs = list(copy.extents(f.fileno(), 256 * MIB))
    assert sum(length for _, length in runs) <= 4 * MIB
    assert any(start <= 10 * MIB < start + length for start, length in runs)
    assert copy.allocated_bytes(sparse) == sum(length for _, length in runs)


def test_a_copy_has_the_data_and_the_holes(sparse, tmp_path, monkeypatch):
    monkeypatch.setattr(copy, "_reflink", lambda src, dst: False)
    reports = []
    how = copy.sparse_copy(sparse, tmp_path / "copy", 512 * MIB, lambda done, total: reports.append((done, total)))
    assert how == "extents"
    copied = tmp_path / "copy"
    assert copied.stat().st_size == 512 * MIB
    assert copied.stat().st_blocks * 512 < 8 * MIB
    with open(copied, "rb") as f:
        f.seek(10 * MIB)
        assert f.read(MIB) == b"a" * MIB
        f.seek(200 * MIB)
        assert f.read(MIB) == b"b" * MIB
        f.seek(300 * MIB)
        assert f.read(MIB) == bytes(MIB)
    assert reports and reports[-1][0] == reports[-1][1]
    assert not list(tmp_path.glob(".*partial"))


def test_an_existing_copy_is_finished_work(sparse, tmp_path):
    (tmp_path / "copy").write_bytes(b"done")
    assert copy.sparse_copy(sparse, tmp_path / "copy", MIB) == "existing"
    assert (tmp_path / "copy").read_bytes() == b"done"


def test_a_failed_copy_leaves_nothing_under_the_name(sparse, tmp_path, monkeypatch):
    def broken(*args):
        raise OSError(errno.EIO, "disk said no")

    monkeypatch.setattr(copy, "_reflink", lambda src, dst: False)
    monkeypatch.setattr(os, "copy_file_range", broken)
    with pytest.raises(OSError, match="disk said no"):
        copy.sparse_copy(sparse, tmp_path / "copy", 256 * MIB)
    assert not (tmp_path / "copy").exists()


def test_reflink_is_used_where_the_filesystem_shares_extents(sparse, tmp_path, monkeypatch):
    cloned = []
    monkeypatch.setattr(copy.fcntl, "ioctl", lambda dst, request, src: cloned.append(request))
    assert copy.sparse_copy(sparse, tmp_path / "copy", 256 * MIB) == "reflink"
    assert cloned == [copy.FICLONE]
