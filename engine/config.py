"""Settings read from the environment (``AUTOINTERP_*``), with user-dir defaults."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide settings; construct a fresh one where needed (no global state)."""

    model_config = SettingsConfigDict(env_prefix="AUTOINTERP_")

    cache_dir: Path = Path(user_cache_dir("autointerp"))
    data_dir: Path = Path(user_data_dir("autointerp"))
    db: str | None = None
    device: str = "cpu"


def settings() -> Settings:
    return Settings()
