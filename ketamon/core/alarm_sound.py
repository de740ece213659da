"""The clinic's alarm tones: the switch (a clinic setting in the database) and the
tone configuration shipped in resources/sounds/sounds.toml."""
from __future__ import annotations

from sqlalchemy.orm import Session as DbSession

from ketamon.core.models import ClinicSetting

SOUND_KEY = "alarm_sound"


def sound_enabled(db: DbSession) -> tuple[bool, ClinicSetting | None]:
    """The clinic's switch for alarm tones: the clinic setting "alarm_sound"
    (ketamon.core.settings; newest row wins, declared default on) and its row."""
    from ketamon.core import settings

    entry = settings.clinic_entry(db, SOUND_KEY)
    return bool(entry.value), (db.get(ClinicSetting, entry.row_id) if entry.row_id is not None else None)


_sound_config: dict | None = None


def sound_config() -> dict:
    global _sound_config
    if _sound_config is None:
        import tomllib

        from ketamon.core.resources import resource

        with open(resource("sounds", "sounds.toml"), "rb") as fh:
            _sound_config = tomllib.load(fh)
    return _sound_config
