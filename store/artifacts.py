"""Content-addressed array files.

Why: activations and attention patterns are too big for JSON columns and
are often produced more than once. Each array is written once, as a ``.npy``
file (no pickles) named by the sha256 of its bytes under the store's artifact
directory, and recorded in the ``artifact`` table; writing the same content
again is a no-op. Files are written to a temporary name and renamed, so a
killed writer never leaves a truncated file under a valid hash, and the file
exists before the row that points to it.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from store.engine import Store, read_session, write_session
from store.errors import StoreError
from store.lookup import require_run
from store.tables import Artifact


def _to_bytes(data: Any) -> tuple[bytes, str, list[int] | None, str | None, str]:
    """Serialise ``data``: (bytes, kind, shape, dtype, file suffix)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data), "bytes", None, None, ".bin"
    import numpy as np

    if hasattr(data, "detach"):  # a torch tensor, without importing torch
        data = data.detach().cpu().numpy()
    array = np.ascontiguousarray(np.asarray(data))
    if array.dtype.hasobject:
        raise TypeError("Object arrays cannot be stored as artifacts (no pickles).")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue(), "ndarray", list(array.shape), str(array.dtype), ".npy"


def _write_file(path: Path, payload: bytes) -> None:
    """Write atomically (temp file + rename) unless an equal-size file exists."""
    if path.exists() and path.stat().st_size == len(payload):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_array(
    store: Store, data: Any, *, run_id: str | None = None, kind: str | None = None
) -> str:
    """Store an array (or raw bytes) by content hash.

    Args:
        store: The open store.
        data: A numpy array (or anything ``numpy.asarray`` accepts, including
            a torch tensor) or raw ``bytes``.
        run_id: The run that produced it, if any.
        kind: A label (default ``ndarray`` or ``bytes``).

    Returns:
        The sha256 hex digest of the stored bytes (the ``.npy`` encoding for
        arrays); pass it to :func:`load_array`.

    Raises:
        RunNotFound: If ``run_id`` is given and does not exist.
        TypeError: For object arrays.
    """
    payload, default_kind, shape, dtype, suffix = _to_bytes(data)
    sha = hashlib.sha256(payload).hexdigest()
    path = store.artifact_dir / sha[:2] / f"{sha}{suffix}"
    _write_file(path, payload)
    try:
        with write_session(store) as session:
            if session.get(Artifact, sha) is not None:
                return sha
            if run_id is not None:
                require_run(session, store, run_id)
            session.add(
                Artifact(
                    sha256=sha,
                    run_id=run_id,
                    path=str(path),
                    kind=kind or default_kind,
                    shape=shape,
                    dtype=dtype,
                    size=len(payload),
                )
            )
    except IntegrityError:  # written concurrently by another process
        with read_session(store) as session:
            if session.get(Artifact, sha) is None:
                raise
    return sha


def load_array(store: Store, sha256: str) -> Any:
    """Load an artifact written by :func:`save_array`.

    The file is looked up at its recorded path, else under this store's
    artifact directory, and its hash is verified.

    Args:
        store: The open store.
        sha256: The digest :func:`save_array` returned.

    Returns:
        A numpy array, or ``bytes`` for raw-bytes artifacts.

    Raises:
        StoreError: Unknown hash, missing file, or content that no longer
            matches its hash.
    """
    with read_session(store) as session:
        row = session.get(Artifact, sha256)
    if row is None:
        raise StoreError(f"No artifact with sha256 '{sha256}' in {store.masked_url}.")
    recorded = Path(row.path)
    candidates = [recorded, store.artifact_dir / sha256[:2] / recorded.name]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise StoreError(f"The file of artifact '{sha256}' is missing (looked for {recorded}).")
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != sha256:
        raise StoreError(f"The file of artifact '{sha256}' ({path}) is corrupted.")
    if row.kind == "bytes" or path.suffix == ".bin":
        return payload
    import numpy as np

    return np.load(io.BytesIO(payload), allow_pickle=False)
