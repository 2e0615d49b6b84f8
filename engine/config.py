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
    #: where target models run: auto (a GPU when there is one), cpu, cuda, cuda:N or mps
    device: str = "auto"
    #: parameter dtype of target models: float32, bfloat16 or float16
    dtype: str = "float32"
    #: memory that batched sweeps may use for activations, e.g. "8GiB" or "512MB"
    #: (default: a share of the memory free on the model's device; see engine.memory)
    memory_budget: str | None = None


def settings() -> Settings:
    return Settings()
