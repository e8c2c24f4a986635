"""`manage.py restore` on files."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from tests.photos import images


def test_restore_command_writes_a_result_within_the_cap(tmp_path, capsys):
    source = tmp_path / "old.jpg"
    source.write_bytes(images.jpeg(images.photo((1600, 1200))))
    out = tmp_path / "out" / "new.png"
    call_command("restore", str(source), "-o", str(out), "--kind", "colourize", "--max", "480")
    with Image.open(out) as img:
        assert max(img.size) <= 854 and min(img.size) <= 480
    printed = capsys.readouterr().out
    assert "with the local engine" in printed


def test_restore_command_refuses_a_file_that_is_not_an_image(tmp_path):
    source = tmp_path / "notes.jpg"
    source.write_text("not an image")
    with pytest.raises(CommandError, match="Not a JPEG, PNG, HEIC or WebP"):
        call_command("restore", str(source), "-o", str(tmp_path / "x.jpg"))
    assert not (tmp_path / "x.jpg").exists()


def test_restore_command_refuses_bad_corners(tmp_path):
    source = tmp_path / "old.jpg"
    source.write_bytes(images.jpeg())
    with pytest.raises(CommandError, match="Bad --quad"):
        call_command("restore", str(source), "-o", str(tmp_path / "x.jpg"), "--quad", "[[0,0],[1,1]]")
