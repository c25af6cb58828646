"""Small private files: atomic ones and those written in place for a run."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from karajo.files import write_private_file, write_run_file


@pytest.mark.parametrize("write", [write_private_file, write_run_file])
def test_only_the_owner_can_read_and_content_is_replaced(write, tmp_path: Path) -> None:
    path = tmp_path / "f"
    write(path, b"a longer first content\n")
    write(path, "second\n")
    assert path.read_text() == "second\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_run_file_does_not_follow_a_symbolic_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "f").symlink_to(target)
    with pytest.raises(OSError):
        write_run_file(tmp_path / "f", b"data")
    assert target.read_text() == "keep"


def test_private_file_leaves_no_temporary_behind(tmp_path: Path) -> None:
    write_private_file(tmp_path / "f", b"x")
    assert os.listdir(tmp_path) == ["f"]
