"""The embedded default's queue: a message file appears only whole, and a file that is not a
whole message is dropped instead of ending the worker."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic

import pytest
from kombu import Connection

from rekindle import filesystem_transport


@pytest.fixture
def channel(tmp_path: Path):
    folders = {name: tmp_path / name for name in ("in", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    options = {
        "data_folder_in": str(folders["in"]),
        "data_folder_out": str(folders["in"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
        "store_processed": False,
    }
    with Connection(
        "filesystem://", transport="rekindle.filesystem_transport:Transport", transport_options=options
    ) as connection:
        yield connection.default_channel, folders["in"]


def test_a_message_is_written_aside_and_renamed_into_place(channel, monkeypatch):
    chan, folder = channel
    seen: list[list[str]] = []
    real_dumps = filesystem_transport.dumps

    def dumps_and_look(payload):  # runs while the file is being written
        seen.append(sorted(p.name for p in folder.iterdir() if p.name.endswith(".msg")))
        return real_dumps(payload)

    monkeypatch.setattr(filesystem_transport, "dumps", dumps_and_look)
    chan._put("priority", {"body": "hello"})
    assert seen == [[]]  # no message file the consumer could take while it was incomplete
    assert [p.name.endswith(".priority.msg") for p in folder.iterdir()] == [True]
    assert chan._size("priority") == 1
    assert chan._get("priority") == {"body": "hello"}
    assert list(folder.iterdir()) == []


def test_an_empty_message_file_is_dropped_and_the_next_message_is_delivered(channel, caplog):
    chan, folder = channel
    # What kombu's own writer leaves between creating the file and writing it (or when killed there).
    (folder / f"{round(monotonic() * 1000) - 1}_{uuid.uuid4()}.priority.msg").touch()
    chan._put("priority", {"body": "after"})
    with caplog.at_level(logging.ERROR, logger="rekindle.filesystem_transport"):
        assert chan._get("priority") == {"body": "after"}
    assert "unreadable message file was dropped" in caplog.text
    with pytest.raises(Empty):
        chan._get("priority")
