"""The clinic's alarm tones: the switch (a clinic setting in the database) and the
tone configuration shipped in resources/sounds/sounds.toml."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from ketamon.core.models import ClinicSetting

SOUND_KEY = "alarm_sound"


def sound_enabled(db: DbSession) -> tuple[bool, ClinicSetting | None]:
    """The clinic's switch for alarm tones (newest setting wins; default from
    resources/sounds/sounds.toml)."""
    row = db.scalar(select(ClinicSetting).where(ClinicSetting.key == SOUND_KEY)
                    .order_by(ClinicSetting.id.desc()).limit(1))
    if row is None:
        return bool(sound_config().get("enabled", True)), None
    return bool(row.value.get("enabled")), row


_sound_config: dict | None = None


def sound_config() -> dict:
    global _sound_config
    if _sound_config is None:
        import tomllib

        from ketamon.core.resources import resource

        with open(resource("sounds", "sounds.toml"), "rb") as fh:
            _sound_config = tomllib.load(fh)
    return _sound_config
