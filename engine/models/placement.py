"""Where a target model runs and in what precision: ``--device`` and ``--dtype``.

Why one place: every command that loads a model (and the Python API, the
batch workers and the settings) accepts the same spellings, so they are
checked once (the spellings themselves live in the torch-free
``engine.catalog``, for batch-spec validation) and resolved here, and a bad
or unavailable choice ends in one sentence that says what exists on this
machine. ``auto`` picks a CUDA GPU
when PyTorch sees one, else Apple's MPS, else the CPU.
"""

from __future__ import annotations

import torch

from engine.catalog import CUDA_DEVICE, DTYPE_NAMES, device_spelling, dtype_spelling
from engine.config import settings
from engine.errors import DeviceError

DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in DTYPE_NAMES}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str | None = None) -> torch.device:
    """The torch device for ``spec`` (None: ``AUTOINTERP_DEVICE``, default ``auto``).

    Raises:
        DeviceError: an unknown spelling, or a device this machine does not have.
    """
    text = device_spelling(settings().device if spec is None else spec)
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise DeviceError("Device 'mps' was asked for but PyTorch sees no Apple MPS device here; use cpu or auto.")
        return torch.device("mps")
    match = CUDA_DEVICE.match(text)
    assert match is not None  # device_spelling admitted it
    if not torch.cuda.is_available():
        raise DeviceError(
            f"Device '{text}' was asked for but PyTorch sees no CUDA GPU on this machine; use cpu or auto."
        )
    index = int(match.group(1)) if match.group(1) is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"Device '{text}' does not exist; this machine has CUDA devices 0..{count - 1}.")
    return torch.device("cuda", index)


def resolve_dtype(spec: str | torch.dtype | None = None) -> torch.dtype:
    """The parameter dtype for ``spec`` (None: ``AUTOINTERP_DTYPE``, default float32).

    Raises:
        DeviceError: not one of float32, bfloat16, float16.
    """
    if isinstance(spec, torch.dtype):
        if spec in DTYPES.values():
            return spec
        raise DeviceError(f"Unsupported dtype {spec}; use {', '.join(DTYPES)}.")
    return DTYPES[dtype_spelling(settings().dtype if spec is None else spec)]


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``."""
    return str(dtype).removeprefix("torch.")


def check_placement(device: str | None, dtype: str | None) -> None:
    """Validate a device and dtype before anything slow starts (raises DeviceError)."""
    resolve_device(device)
    resolve_dtype(dtype)
