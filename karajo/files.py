"""Small files karajo keeps beside its logs, written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_private_file(path: Path, data: bytes | str) -> None:
    """Write a file only its owner can read, atomically (write, then rename).

    A crash leaves either the old content or the new, never half of it.
    """
    if isinstance(data, str):
        data = data.encode()
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with open(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
