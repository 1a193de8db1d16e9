"""Helpers shared by the format readers: finding the gt folder, listing cloud files, and
collecting every naming problem before failing (a reader reports them all at once)."""

from __future__ import annotations

from pathlib import Path

from scan2ad.errors import FormatError

CLOUD_EXTS = (".pcd", ".ply", ".txt", ".xyz", ".npz")


def gt_dir(class_dir: Path, names: tuple[str, ...] = ("gt", "GT")) -> Path | None:
    for name in names:
        if (class_dir / name).is_dir():
            return class_dir / name
    return None


def cloud_files(folder: Path) -> list[Path]:
    """Point-cloud files of ``folder`` (hidden and temp files skipped), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir()
                  if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in CLOUD_EXTS)


def class_dirs(root: Path, classes: list[str] | None, fmt: str) -> list[Path]:
    """Class folders (those with a train/ subfolder), restricted to ``classes`` when given."""
    if not root.is_dir():
        raise FormatError("dataset folder not found", root)
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and (d / "train").is_dir())
    if classes is not None:
        missing = sorted(set(classes) - {d.name for d in dirs})
        if missing:
            raise FormatError(f"class(es) {missing} not in the dataset "
                              f"(found {[d.name for d in dirs]})", root)
        dirs = [d for d in dirs if d.name in classes]
    if not dirs:
        raise FormatError(f"no class folders with a train/ subfolder: not a {fmt} dataset", root)
    return dirs


def fail_on(problems: list[str], fmt: str, root: Path) -> None:
    if problems:
        raise FormatError(f"not a valid {fmt} dataset ({len(problems)} problem(s)):\n  "
                          + "\n  ".join(problems), root)
