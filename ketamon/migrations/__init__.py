"""Alembic migrations of the clinic database (`versions/`, run by
ketamon.core.store.migrate).

`HEAD` is the newest revision in `versions/`, known here without importing
Alembic, so a warm start (the database already at HEAD) costs one query and no
Alembic import. Change it with every new migration: tests/test_startup.py fails
when it differs from Alembic's own head.
"""

HEAD = "e4a1c0de5b01"
