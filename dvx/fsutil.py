"""Small file operations shared by the cache and local remotes."""

from __future__ import annotations

import os
from pathlib import Path


def copy_new(src: str | Path, dest: str | Path) -> None:
    """Copy ``src`` to a new file ``dest`` (which must not exist).

    Leaner than ``shutil.copyfile`` for the many small files a checkout, add or
    push moves: open, read, write; ``sendfile`` keeps big files in the kernel.
    """
    with open(src, "rb", buffering=0) as f, open(dest, "xb", buffering=0) as out:
        size = os.fstat(f.fileno()).st_size
        if size <= 1 << 20:
            out.write(f.read())
            return
        offset = 0
        while offset < size:
            sent = os.sendfile(out.fileno(), f.fileno(), offset, size - offset)
            if sent == 0:
                break
            offset += sent
