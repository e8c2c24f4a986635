"""dj-stripe's migrations, plus one squashed migration that replaces 0001–0003 on a new database.

dj-stripe 2.11 ships 0002_2_10: ~600 RemoveField operations over ~100 related models. Django
re-renders the related model states after each one, which costs ~80 s of CPU on an empty
database (SQLite or PostgreSQL) and was most of `make run`'s first start. The squashed migration
here creates the same final schema in a few seconds (see docs/operations.md).

``MIGRATION_MODULES["djstripe"]`` points at this package, and its search path also holds
dj-stripe's own migrations folder, so:

- a new database runs the squash (Django records 0001–0003 as applied, exactly as if it had
  run them one by one, so dropping this package later needs nothing);
- a database that already has any of 0001–0003 keeps using dj-stripe's own files;
- migrations that a dj-stripe upgrade adds (0004…) are found in dj-stripe's folder and run
  after the squash as usual.
"""

from pathlib import Path

import djstripe

# Our folder first (the squash), then dj-stripe's (its originals and any later migrations).
# Assigned, not appended: Django's migration loader reloads this module.
__path__ = [
    str(Path(__file__).resolve().parent),
    str(Path(djstripe.__file__).resolve().parent / "migrations"),
]
