"""``manage.py make_home_examples``: the home page's before/after pictures are made by the
product itself, deterministically, small, with each photo's licence and source recorded."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from processing.engines import photoset
from processing.management.commands import make_home_examples
from rekindle.views import EXAMPLES_MANIFEST

COMMITTED = EXAMPLES_MANIFEST.parent
FREE_LICENCES = ("public domain", "CC0-1.0")


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("examples")
    call_command("make_home_examples", out=out, stdout=io.StringIO())
    return out


def test_the_command_remakes_the_committed_examples(made):
    manifest = json.loads((made / "examples.json").read_text())
    committed = json.loads(EXAMPLES_MANIFEST.read_text())
    assert [e["name"] for e in manifest["examples"]] == ["grace_hopper", "astronaut", "camera"]
    assert manifest["command"] == committed["command"] == "python manage.py make_home_examples"
    for new, old in zip(manifest["examples"], committed["examples"], strict=True):
        # The ageing is ours alone and seeded: the "before" is the same file, byte for byte.
        assert new["before_sha256"] == old["before_sha256"]
        assert (new["width"], new["height"]) == (old["width"], old["height"])
        # The "after" is what the engine makes today; a changed engine means regenerating.
        name = new["name"]
        drift = np.abs(_pixels(made / f"{name}-after.jpg") - _pixels(COMMITTED / f"{name}-after.jpg"))
        assert drift.mean() < 2.0, f"{name}: rerun `python manage.py make_home_examples`"


def test_the_committed_files_are_what_the_manifest_says():
    for entry in json.loads(EXAMPLES_MANIFEST.read_text())["examples"]:
        for side in ("before", "after"):
            data = (COMMITTED.parent.parent / entry[side]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry[f"{side}_sha256"]
            assert len(data) == entry[f"{side}_bytes"] <= make_home_examples.MAX_BYTES
            image = Image.open(io.BytesIO(data))
            assert image.format == "JPEG"
            assert image.size == (entry["width"], entry["height"])
            assert max(image.size) <= make_home_examples.SIDE


def test_each_example_is_a_freely_licensed_photo_from_a_package_with_its_credit(made):
    for entry in json.loads((made / "examples.json").read_text())["examples"]:
        photo = photoset.by_name(entry["name"])
        assert (entry["licence"], entry["source"], entry["package"]) == (
            photo.licence,
            photo.source,
            photo.package,
        )
        assert entry["licence"].startswith(FREE_LICENCES)
        assert entry["credit"] and entry["alt"]
        credit = entry["credit"].lower()
        assert "public domain" in credit or "cc0" in credit


def test_the_restored_picture_differs_from_the_aged_one(made):
    for entry in json.loads((made / "examples.json").read_text())["examples"]:
        before = _pixels(made / f"{entry['name']}-before.jpg")
        after = _pixels(made / f"{entry['name']}-after.jpg")
        assert before.shape == after.shape
        assert np.abs(before - after).mean() > 5.0


def test_a_missing_photo_is_a_clear_error_and_writes_nothing(tmp_path, monkeypatch):
    def missing(photo, *, side):
        raise photoset.PhotoMissing(f"Photo {photo.name!r} is missing: install scikit-image.")

    monkeypatch.setattr(photoset, "load", missing)
    out = tmp_path / "examples"
    with pytest.raises(CommandError, match="is missing: install scikit-image"):
        call_command("make_home_examples", out=out, stdout=io.StringIO())
    assert not out.exists()


def test_a_picture_over_the_byte_budget_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(make_home_examples, "MAX_BYTES", 1000)
    out = tmp_path / "examples"
    with pytest.raises(CommandError, match=r"grace_hopper before: \d+ bytes, over 1000"):
        call_command("make_home_examples", out=out, stdout=io.StringIO())
    assert not out.exists()
