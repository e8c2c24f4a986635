"""dj-stripe's migrations run from rekindle.djstripe_migrations: a squash of 0001–0003 for a new
database, dj-stripe's own files for everything else (see that package's docstring)."""

from __future__ import annotations

import sys
from pathlib import Path

import djstripe
import pytest
from django.db import connection
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState

SQUASH = ("djstripe", "0001_squashed_2_11")
ORIGINALS = [("djstripe", "0001_initial"), ("djstripe", "0002_2_10"), ("djstripe", "0003_2_11")]


def _djstripe_state(state: ProjectState) -> ProjectState:
    only = ProjectState()
    for (app_label, _), model_state in state.models.items():
        if app_label == "djstripe":
            only.add_model(model_state.clone())
    return only


def test_the_squash_builds_exactly_the_state_of_djstripes_own_migrations():
    originals = MigrationLoader(None, replace_migrations=False)
    squashed = MigrationLoader(None)  # no database: nothing applied, so the squash is used
    assert SQUASH in squashed.graph.nodes and ("djstripe", "0002_2_10") not in squashed.graph.nodes
    before = _djstripe_state(originals.project_state(ORIGINALS[-1]))
    after = _djstripe_state(squashed.project_state(SQUASH))
    assert len(after.models) == len(before.models) > 50
    changes = MigrationAutodetector(before, after).changes(graph=originals.graph)
    assert changes == {}, changes


def test_the_squash_replaces_djstripes_files_which_still_load_from_djstripe():
    loader = MigrationLoader(None, replace_migrations=False)
    assert loader.disk_migrations[SQUASH].replaces == ORIGINALS
    for key in ORIGINALS:
        assert loader.disk_migrations[key].__module__.startswith("rekindle.djstripe_migrations.")
    # dj-stripe's own files, found through the package's search path (so later ones are too).
    djstripe_dir = Path(djstripe.__file__).resolve().parent / "migrations"
    for key in ORIGINALS:
        module = sys.modules[loader.disk_migrations[key].__module__]
        assert Path(module.__file__).resolve() == djstripe_dir / f"{key[1]}.py"


@pytest.mark.django_db
def test_a_new_database_gets_the_squash_and_records_djstripes_migrations_as_applied():
    # The test database was just created by `migrate`, as a first start's is.
    applied = MigrationRecorder(connection).applied_migrations()
    assert SQUASH in applied
    assert all(key in applied for key in ORIGINALS)
