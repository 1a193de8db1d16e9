"""Helpers shared by the format readers: the folders a public release puts its files in, listing
cloud and gt files, and collecting every naming problem before failing (a reader reports them
all at once).

What the releases and their loaders actually contain, beyond each format's basic layout:

* normal test samples in a ``test/good/`` subfolder (the Anomaly-ShapeNet-v2 / Real3D-AD loader
  of the Open-Industry authors, ``dra_drev/dataloaders/datasets/anomaly_shapenet.py``), and
  normal training samples in ``train/good/`` likewise;
* the gt folder spelled ``gt`` (Real3D-AD, Open-Industry) or ``GT`` (Anomaly-ShapeNet), its files
  possibly grouped in per-type subfolders (``GT/bulge/...``);
* anomalous test samples that exist only as gt files (points and labels in one "x y z label"
  file, no test cloud): the Open-Industry authors' test loaders read the anomalies from
  ``gt/<class>_<Type>*.txt`` and Anomaly-ShapeNet-v2's from ``GT/*.txt``. A reader takes a gt
  file without a test cloud as such a sample when the class's ``test/`` holds no anomalous
  cloud at all; beside anomalous test clouds it is a naming problem;
* clouds and gt files as ``.csv`` with a header line (``x,y,z[,label]``).
"""

from __future__ import annotations

from pathlib import Path

from scan2ad.errors import FormatError

CLOUD_EXTS = (".pcd", ".ply", ".txt", ".xyz", ".npz", ".csv")
GT_EXTS = (".txt", ".csv")
GT_DIR_NAMES = ("gt", "GT")
NORMAL_DIR = "good"  # test/good/, train/good/


def gt_dir(class_dir: Path, names: tuple[str, ...] = GT_DIR_NAMES) -> Path | None:
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


def split_files(class_dir: Path, split: str) -> list[tuple[Path, bool]]:
    """``(file, in_good_folder)`` of ``<class>/<split>/`` and of its ``good/`` subfolder."""
    return ([(f, False) for f in cloud_files(class_dir / split)]
            + [(f, True) for f in cloud_files(class_dir / split / NORMAL_DIR)])


def gt_files(gdir: Path | None, root: Path, problems: list[str]) -> dict[str, Path]:
    """stem -> gt file, from the gt folder and its per-type subfolders (a stem twice is a problem)."""
    found: dict[str, Path] = {}
    if gdir is None:
        return found
    for f in sorted(gdir.rglob("*")):
        if not f.is_file() or f.name.startswith(".") or f.suffix.lower() not in GT_EXTS:
            continue
        if f.stem in found:
            problems.append(f"{f.relative_to(root)}: a second gt file for {f.stem} "
                            f"(also {found[f.stem].relative_to(root)})")
            continue
        found[f.stem] = f
    return found


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
        if (root / "train").is_dir():
            raise FormatError(f"this is one class folder (it has train/ itself); give the {fmt} dataset "
                              f"folder that holds it ({root.parent})", root)
        raise FormatError(f"no class folders with a train/ subfolder: not a dataset in the {fmt} layout", root)
    return dirs


def fail_on(problems: list[str], fmt: str, root: Path) -> None:
    if problems:
        raise FormatError(f"not a valid {fmt} dataset ({len(problems)} problem(s)):\n  "
                          + "\n  ".join(problems), root)


def scan_classes(root: Path, classes: list[str] | None, fmt: str, *, parse_test, train_problem,
                 points_from_gt: bool, test_pattern: str, skip_test=None,
                 gt_names: tuple[str, ...] = GT_DIR_NAMES):
    """The samples of every class folder and every naming problem, for one format.

    ``parse_test(stem, cls)`` gives a test file's type (``NORMAL`` for a normal sample) or None
    when its name does not fit ``test_pattern``; ``train_problem(stem, cls)`` says what is wrong
    with a training file's name (None: fine). Files in ``train/good/`` and ``test/good/`` are
    normal whatever their names. Anomalous test clouds need a gt file of the same stem; a gt file
    without a test cloud is a gt-only anomalous sample when the class has no anomalous test
    cloud at all (see the module docstring), else a problem.
    """
    from scan2ad.datasets.samples import NORMAL, Sample

    samples: list[Sample] = []
    problems: list[str] = []
    for cdir in class_dirs(root, classes, fmt):
        cls = cdir.name
        gdir = gt_dir(cdir, gt_names)
        gname = gdir.name if gdir is not None else gt_names[0]
        gts = gt_files(gdir, root, problems)
        n_train = 0
        for f, good in split_files(cdir, "train"):
            rel = f.relative_to(root).as_posix()
            why = None if good else train_problem(f.stem, cls)
            if why:
                problems.append(f"{rel}: {why}")
                continue
            samples.append(Sample(cls, "train", NORMAL, f, None, rel))
            n_train += 1
        if n_train == 0:
            problems.append(f"{cls}: train/ holds no samples")
        if not (cdir / "test").is_dir() and not gts:
            problems.append(f"{cls}: no test/ folder")
        seen = {f.stem for f, _ in split_files(cdir, "train")}
        anomalous_clouds = 0
        for f, good in split_files(cdir, "test"):
            if skip_test is not None and skip_test(f.stem):
                continue
            rel = f.relative_to(root).as_posix()
            seen.add(f.stem)
            dtype = NORMAL if good else parse_test(f.stem, cls)
            if dtype is None:
                problems.append(f"{rel}: name is not {test_pattern.format(cls=cls)}")
                continue
            if dtype == NORMAL:
                samples.append(Sample(cls, "test", NORMAL, f, None, rel))
                continue
            anomalous_clouds += 1
            gt = gts.get(f.stem)
            if gt is None:
                problems.append(f"{rel}: no gt file {cls}/{gname}/{f.stem}.txt")
                continue
            samples.append(Sample(cls, "test", dtype, f, gt, rel, points_from_gt=points_from_gt))
        for stem, g in gts.items():
            if stem in seen:
                continue
            grel = g.relative_to(root).as_posix()
            dtype = parse_test(stem, cls)
            if dtype == NORMAL:
                continue  # labels of a normal sample (all 0): nothing to read
            if dtype is None:
                problems.append(f"{grel}: gt file name is not {test_pattern.format(cls=cls)}")
            elif anomalous_clouds:
                problems.append(f"{grel}: gt file without a test cloud")
            else:
                samples.append(Sample(cls, "test", dtype, g, g, grel, points_from_gt=True))
    return samples, problems
