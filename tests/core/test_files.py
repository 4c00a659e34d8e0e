"""Atomic writes (ddvo_tf/core/files.py): the file appears whole under its name, replaces an older one,
and a write that fails leaves the older one intact with no temporary file beside it."""
import os

import pytest

from ddvo_tf.core.files import write_atomic


def test_text_and_bytes_land_whole_and_replace_the_old_file(tmp_path):
    path = str(tmp_path / "a.json")
    assert write_atomic(path, "{}\n") == path and open(path).read() == "{}\n"
    write_atomic(path, b"\x00\x01")
    assert open(path, "rb").read() == b"\x00\x01" and os.listdir(tmp_path) == ["a.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / "a.txt")
    write_atomic(path, "old")

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")
    assert open(path).read() == "old" and os.listdir(tmp_path) == ["a.txt"]
