"""A Debian bookworm root filesystem with python3 and python3-venv, as a tar to `docker import`.

The container image test builds apiproxy's image offline on it (--build-arg BASE=...), standing in
for the official Python image no test daemon can pull. debootstrap (minbase) makes it from the
machine's Debian mirror in about a minute; the tar is kept in the harness's cache, so later runs
only import it. Usage: debian_base.py CACHE_DIR (prints the tar's path).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv")
NAME = f"debian-{SUITE}-python3.tar"


def mirror() -> str:
    """The machine's Debian mirror, from its deb822 sources (deb.debian.org if none is found)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    return "http://deb.debian.org/debian"


def ensure(cache: Path) -> Path:
    """The cached tar, made first if missing; two runs at once make it once."""
    tar = cache / NAME
    if tar.exists():
        return tar
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".debian-base.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tar.exists():
            return tar
        work = Path(tempfile.mkdtemp(prefix=".debootstrap.", dir=cache))
        try:
            root = work / "root"
            made = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), mirror()],
                capture_output=True, text=True, timeout=1200)
            if made.returncode != 0:
                raise RuntimeError(f"debootstrap failed ({made.returncode}):\n{made.stdout[-3000:]}{made.stderr[-3000:]}")
            # What an image needs no copy of: downloaded packages and package lists.
            for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (root / leftover).glob("*"):
                    if path.is_file():
                        path.unlink()
            partial = work / NAME
            subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True,
                           timeout=600)
            os.replace(partial, tar)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tar


if __name__ == "__main__":
    print(ensure(Path(sys.argv[1])))
