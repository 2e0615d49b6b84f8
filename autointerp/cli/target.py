"""Loading the target model for a command, with a spinner on the progress display."""

from __future__ import annotations

from rich.progress import Progress

from engine.models import TargetModel, load_model


def load_target(model: str, progress: Progress, device: str | None = None, dtype: str | None = None) -> TargetModel:
    """Load a model (on ``device``, in ``dtype``; None = the settings') with a spinner step in ``progress``."""

    step = progress.add_task(f"loading {model}", total=None)
    target = load_model(model, progress=lambda msg: progress.update(step, description=msg), device=device, dtype=dtype)
    progress.update(step, total=1, completed=1)
    progress.remove_task(step)
    return target
