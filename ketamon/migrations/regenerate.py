"""Developer tool: write a new migration by comparing the models with a database
migrated to head. `python -m ketamon.migrations.regenerate "message"`.

`--initial` (only until the first release) deletes the versions and writes the
single initial migration again from the models."""
import sys
import tempfile

from alembic import command
from alembic.config import Config

from ketamon.core.store import MIGRATIONS_DIR, make_engine, migrate


def main() -> None:
    if sys.argv[1] == "--initial":
        for old in (MIGRATIONS_DIR / "versions").glob("*.py"):
            old.unlink()
        sys.argv[1] = "initial schema"
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/gen.sqlite3")
        migrate(engine)
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.revision(cfg, message=sys.argv[1], autogenerate=True)


if __name__ == "__main__":
    main()
