"""A release archive of this checkout: what `manage.py bake` builds an image from.

The files are the ones a fresh clone has plus what is new and not ignored (`git ls-files --cached --others
--exclude-standard`): no virtual environment, var/, caches or history. The archive is deterministic (sorted, owner
and times fixed), so the same tree always makes the same bytes. It is named by its commit; a tree with uncommitted
changes by its commit and the archive's hash, so an image is reused only for exactly the files it was built from.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Release:
    name: str  # "<commit>" or "<commit>-dirty-<hash>"
    archive: bytes  # .tar.gz


def _git(root: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise FileNotFoundError("bake packs a git checkout: git is not installed")
    return subprocess.run([git, *args], cwd=root, capture_output=True, text=True, check=True, timeout=60).stdout


def files(root: Path) -> list[str]:
    listed = _git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    return sorted(name for name in listed if name and (root / name).is_file())


def pack(root: Path) -> Release:
    buffer = io.BytesIO()
    # mtime=0 in the gzip header too: the same files, the same bytes.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        for name in files(root):
            path = root / name
            info = tar.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    archive = buffer.getvalue()
    commit = _git(root, "rev-parse", "HEAD").strip()
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=normal").strip())
    name = f"{commit}-dirty-{hashlib.sha256(archive).hexdigest()[:12]}" if dirty else commit
    return Release(name, archive)
