"""Set-up helper for the Makefile (standard library only).

  deps.py hash                 print the hash of pyproject.toml's dependency lists
  deps.py install DIR          pip-install every third-party dependency (+ dev, ray extras)
                               into DIR, atomically (DIR.partial, then rename)
  deps.py link DIR VENV        make VENV see DIR through a .pth file
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ("dev", "ray")


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in EXTRAS:
        reqs += project.get("optional-dependencies", {}).get(extra, [])
    return sorted({r.split("#")[0].strip() for r in reqs})


def deps_hash() -> str:
    text = "\n".join(requirements()) + f"\npy{sys.version_info.major}.{sys.version_info.minor}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def install(target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--target", str(partial), *requirements()]
    print("installing dependencies into", target, flush=True)
    subprocess.run(cmd, check=True)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    (target / ".complete").write_text(deps_hash() + "\n")


def link(target: Path, venv: Path) -> None:
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "_scan2ad_deps.pth").write_text(str(target.resolve()) + "\n")
    # console scripts of the dependencies are not linked: their shebangs name the interpreter
    # that ran pip; the Makefile runs everything as `.venv/bin/python -P -m <module>`


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "hash":
        print(deps_hash())
    elif cmd == "install" and len(sys.argv) == 3:
        install(Path(sys.argv[2]))
    elif cmd == "link" and len(sys.argv) == 4:
        link(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit(__doc__)
