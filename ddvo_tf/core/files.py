"""Files written whole or not at all: the bytes go to a temporary name beside the target (one per
process, so parallel writers never share one), then an atomic rename puts them in place.  An
interrupted command leaves the previous file, or none, never half of a new one.
"""
from __future__ import annotations

import os


def write_atomic(path: str, data: bytes | str) -> str:
    """Write ``data`` (``str`` as UTF-8) to ``path`` atomically; returns ``path``."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):          # a full disk or an interrupt: no stray temporary file
            os.remove(tmp)
        raise
    return path
