"""Open3D-AD's tables (seed 000_59f5340ba3ca2db6.txt: Tables II, III, VI, VII, VIII) beside ours on
any Open-Industry-layout dataset: per class, the paper's number and ours (mean ± std over seeds),
the Average row, and per table the rank correlation of the methods and the mean absolute difference.

    .venv/bin/python -P benchmarks/paper_tables.py DATASET --runs RUNDIR [--tables II,III,VI,VII,VIII]
        [--k 5 10] [--seeds 1-3] [--classes a,b] [--methods a,b] [--subset overall]
        [--set [METHOD:]KEY=VALUE ...] [--report-only] [--overwrite]
        [--feature-cache DIR | --no-feature-cache] [--feature-cache-gb G] [--workers N]

For every (method, protocol, k, seed, class) the tables need, one ``scan2ad evaluate`` run
(:func:`scan2ad.detectors.evaluate.evaluate`, the function ``scan2ad benchmark`` runs per method)
goes to ``RUNDIR/runs/<protocol>/<method>/seed<s>/<class>/``. A run folder whose marker says it is
complete for the same job is reused, so a rerun (after a kill, or with more seeds, classes or
tables) redoes only what is missing; ``--report-only`` runs nothing and prints what is there. RUNDIR
is claimed for the dataset (:mod:`scan2ad.outputs`: another dataset's RUNDIR is refused without
``--overwrite``). The tables go to ``RUNDIR/paper_tables.md``, ``paper_tables.csv`` (one line per
cell: table, k, metric, paper row, our method, class, paper mean/std, ours mean/std),
``paper_tables.json`` (the acceptance figures) and ``paper_tables.png`` (paper vs ours, one panel
per table). Runs keep no models and draw no plots (the run folders hold metrics.json,
per_class.csv and table.md).

Feature cache: every run reads and writes ``RUNDIR/feature-cache`` (``--feature-cache DIR`` puts
it elsewhere, e.g. on another disk or shared by two RUNDIRs; ``--no-feature-cache`` turns it
off; ``--feature-cache-gb`` bounds it), :mod:`scan2ad.detectors.features.disk_cache`. A cloud's
features that do not depend on training are computed once for every method variant, k and seed
that needs them (Open3D-AD and M1-M9 share each cloud's multi-FPFH; the Point-MAE rows their
tokens at the same seed); the scores are the same as without it. Speed is taken from runs whose
scoring computed its features; a row with only cached runs is marked as such.

The paper's numbers are kept below as text copied from the seed (Tables II and III row by row,
Tables VI-VIII as printed); ``tests/unit/detectors/test_paper_tables.py`` checks them against the
seed file. Values are percent.

Row mapping (paper -> ``scan2ad.detectors.registry``):

* II, III: DevNet_pm/pb, DRA_pm/pb -> devnet-pm/-pb, dra-pm/-pb; Ours -> open3d-ad. Open-set
  protocol; the paper's captions say the models are "evaluated on detecting the remaining unseen
  anomaly categories", which can be read as the Unseen subset or as the whole remaining test set;
  DRA's general setting (where these baselines come from) and DESIGN §6 report every remaining
  test sample, so ``--subset overall`` is the default and ``--subset unseen`` gives the other
  reading.
* VI (self-supervised): PatchCore FPFH / FPFH+Raw / PointMAE -> patchcore-fpfh /
  patchcore-fpfh+raw / patchcore-pointmae; BTF Raw / FPFH -> btf-raw / btf-fpfh; M3DM PointMAE ->
  m3dm; M3DM PointBert -> m3dm with ``encoder = point-bert:point_bert_small`` (our shipped
  Point-BERT; M3DM's layers 3/7/11 as for Point-MAE); PO3AD -> po3ad. R3D-AD (diffusion
  reconstruction, Zhou et al. 2024) is *not* Reg3D-AD and ISMP has no implementation here: ours
  is '—'. Reg3D-AD (reg3d-ad) gets a row of its own with the paper's cell '—' (Table VI has no
  Reg3D-AD column; it is the nearest we have to R3D-AD only in name).
* VII: M1-M5 -> open3d-ad-m1..m5; VIII: M6-M9 -> open3d-ad-m6..m9, at the first ``--k``. Entries
  whose detector and resolved settings are identical share their runs: M1 = M9 = open3d-ad
  (CDS is Open3D-AD's default; the paper prints 84.39 / 70.52 for all three).

Table VI's protocol. The seed says only "to enrich the self-supervised tasks, the dataset was
reorganised; the complete partitioning scheme is presented in the supplementary materials", which
we do not have. Decision: the one-class protocol (training on the normal references of train/,
testing on every test sample), because (1) the methods are self-supervised (trained on normal
samples only), (2) it is how their own papers (Real3D-AD, Anomaly-ShapeNet) evaluate them, and
(3) Table VI prints a single number per cell, no k and no ±, as a one-class table does. The
reorganisation probably moved samples between train/ and test/ (e.g. to give every class more
normal training data); that cannot be reproduced without the supplement.

Our k against the paper's: ``--k`` takes one or two values, paired in order with the paper's 5
and 10 (a scaled-down dataset's ``split_ks`` stand for the paper's; the demo's [1, 2] are 1-2 of
4 per type where the paper's 5-10 are of 12). Classes are matched by name (lower case, non-letters
as '_': "L-shaped Screw" = l_shaped_screw); classes the paper does not have show its cell as '—',
and the Average rows average the classes run (the paper's average is over its 15).

Summary figures (issue 21's acceptance): Open3D-AD's Average at the paper's k = 5 against
84.39 / 70.52 (within ±5 points?); Spearman's rank correlation of the methods' Averages over the
rows of Table II (k = 5) and Table VI together, O-AUROC (>= 0.8?); and the gain M6 -> M9 against
Table VIII's +1.31 / +1.34 (same sign; same size = within a factor of 2). Per table, Spearman is
taken over the methods' Average cells and the mean absolute difference over the per-class cells
where the table has them (II, III), else over the Average cells. Speed: test samples per second
after loading (``metrics.json``'s ``fps``) per method, with CPU seconds per sample and the
hardware, beside Table VII's FPS (the paper's RTX 4090).

Measured 2026-12-06 on the demo -- NOT the paper's scale (3 classes x 36 samples at ~20K points,
carve source, the demo build of /work/main/demo_out/dataset made 18:16 UTC; k = 1 <-> the
paper's 5), the cheap rows, seeds 1-2, 36 runs in 79 min on the shared 2-core machine (load
average 10-24, so wall samples/s are far below what the methods do alone; CPU s/sample steadier):

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -P benchmarks/paper_tables.py DEMO --runs RUNS \
        --tables II,III,VI,VIII --k 1 --seeds 1-2 \
        --methods open3d-ad,open3d-ad-m6,open3d-ad-m9,patchcore-fpfh,patchcore-fpfh+raw,btf-raw,btf-fpfh

    row (ours)              O-AUROC paper / ours   P-AUROC paper / ours   CPU s/sample
    II/III Ours (open3d-ad) 84.39 / 95.99±1.23     70.52 / 94.90±0.09     2.80
    VIII M6 (open3d-ad-m6)  83.08 / 94.75±1.23     69.18 / 94.71±0.11     2.81
    VI PatchCore FPFH       51.78 / 94.58±0.69     54.34 / 93.75±0.41     0.44
    VI PatchCore FPFH+Raw   55.63 / 92.22±1.11     53.14 / 90.64±0.15     0.56
    VI BTF Raw              93.15 / 85.83±0.56     66.31 / 90.23±0.14     0.25
    VI BTF FPFH             49.40 / 73.75±4.86     51.14 / 85.34±0.37     0.82

Per class (II): heavy_washer 77.08 / 100.00, lock_nut 78.47 / 95.37, split_pin 82.61 / 92.59.
Acceptance figures on the demo: Open3D-AD +11.60 O-AUROC and +24.38 P-AUROC above the paper (not
within ±5); Spearman over the five II+VI rows 0.30 (O) and 0.70 (P), not >= 0.8 (the paper has
PatchCore-FPFH near chance at 51.78 and BTF-Raw on top at 93.15; on the demo PatchCore-FPFH is
the best of the four and BTF-Raw the third); M6 -> M9 gain +1.23 O-AUROC (paper +1.31: same sign
and size) and +0.19 P-AUROC (paper +1.34: same sign, a seventh of the size). Table VI P-AUPR
(paper 0.7-1.1 %, ours 32-54 %) says the same as the levels: the demo's defects are far easier
to find than Open-Industry's. The demo is small and easy by design; the comparison that counts
is on open-industry-full (issue 21, in progress elsewhere).

Measured 2026-12-07 (session 13) on open-industry-full at the paper's scale, its first four
classes (square_taper_washer, split_pin, lock_nut, threaded_nail; 64-89K points a sample, split_pin
and threaded_nail scan-limited at 25K and 55K), seed 1, k = 5 (the paper's cells averaged over the
same four classes; a snapshot of the finished classes by ``benchmarks/realism_variant.py BUILD OUT
--classes ...``, which writes the build's bytes):

    row                       O-AUROC paper / ours   P-AUROC paper / ours
    II/III Ours (open3d-ad)   83.80 / 82.41          73.92 / 81.37
    VIII M6 -> M9 gain        +1.31 / +0.44          +1.34 / +0.13   (15-class paper gain)
    VI PatchCore FPFH         51.78 / 85.46          54.34 / 90.92
    VI PatchCore FPFH+Raw     55.63 / 86.23          53.14 / 90.85
    VI BTF Raw                93.15 / 69.85          66.31 / 82.23
    VI BTF FPFH               49.40 / 69.05          51.14 / 83.04

Spearman over those five II+VI rows: O 0.10, P -0.60. Open3D-AD's cells are those of session 12
on another machine to the last digit (the build is reproducible). Table VI's point cells sit at or
below a random scorer (P-AUPR 0.35-0.97 % for five rows against the 1.20 % mean anomaly ratio,
a random scorer's AP; R3D-AD's P-AUROC 22.15), which no defect contrast produces (harder defects
push a detector towards 50 % / 1.2 %, not below): the undescribed reorganised split of Table VI,
not the scans, so its ranking is not a target the generator can be tuned to.

Session 14: those cells were measured at ``part_variation = 1`` (instances drawn over the whole
tolerance band). BTF-Raw's level is the instance spread, not the split: at 0.25 / 0.1 its
split_pin cell goes 46.4 -> 71.8 -> 89.5 and threaded_nail's 54.7 -> 70.3 (0.25), the FPFH rows
and Open3D-AD within seed noise (datasets/pipeline.py). On the four classes that moves the VI BTF
Raw row to about 85 and makes it the top of the five rows, as in the paper (ranks of the other
four unchanged: Spearman O from 0.10 to about 0.7, projected, not run). open-industry-full now
scans at 0.1; its build restarted from the scans.

Session 15, measured: the restarted build's first two classes (square_taper_washer, split_pin at
part_variation 0.1; the snapshot's bytes are the build's, and split_pin's are those of the
session-14 single-class build at 0.1), seed 1 unless stated:

    cd /work/wt/lead; B=/work/builds/open-industry-full; C=square_taper_washer,split_pin
    .venv/bin/python -P benchmarks/realism_variant.py $B /work/runs/v4 --classes $C
    OMP_NUM_THREADS=1 .venv/bin/python -P benchmarks/paper_tables.py /work/runs/v4 --runs /work/runs/v4-runs \
        --feature-cache /work/runs/fcache --k 5 10 --seeds 1 --classes $C \
        --methods open3d-ad,open3d-ad-m6,patchcore-fpfh,patchcore-fpfh+raw,btf-raw,btf-fpfh --tables II,III,VI,VIII

    row                       O-AUROC paper / ours   P-AUROC paper / ours   (paper: the same 2 classes)
    II/III Ours, k = 5        86.11 / 87.75          73.71 / 85.35   washer 89.60/96.70, 71.85/88.93
                                                                     split_pin 82.61/78.80, 75.57/81.77
    II/III Ours, k = 10       87.79 / 87.47          77.54 / 83.74
    VI PatchCore FPFH         51.78 / 87.31          54.34 / 93.18
    VI PatchCore FPFH+Raw     55.63 / 90.25          53.14 / 94.25
    VI BTF Raw                93.15 / 94.77          66.31 / 95.90
    VI BTF FPFH               49.40 / 73.16          51.14 / 86.17

Spearman over the five II+VI rows: O 0.90 (was 0.10 on four classes at part_variation 1), P
-0.10; Table VI's four rows alone rank as the paper's (O 1.00). Open3D-AD's O within 5 of the
paper (+1.64 against these two classes, +3.36 against its 15-class 84.39); its P is not
(+11.6). Seeds 2-3 (k = 5, Open3D-AD; split_pin seed 3 not run): washer 96.85 / 88.15 and
94.80 / 88.43, split_pin 80.95 / 83.48. M6 -> M9 over the five finished (class, seed) pairs:
+0.42 / +0.13 (paper +1.31 / +1.34), as on the four classes at part_variation 1. A texture of
0.03 mm lowers P to the paper's and O 5-14 points below it (datasets/pipeline.py).

Session 16: lock_nut and threaded_nail of the same build added (seed 1, k = 5; the snapshot holds
the build's first four classes), the paper's Average cells over its 15 classes as the acceptance
takes them, this session's two classes per cell (paper in brackets):

    cd /work/wt/lead; C=square_taper_washer,split_pin,lock_nut,threaded_nail
    .venv/bin/python -P benchmarks/paper_tables.py /work/runs/v4 --runs /work/runs/v4-runs --report-only \
        --k 5 --seeds 1 --classes $C --tables II,III,VI,VIII \
        --methods open3d-ad,open3d-ad-m6,open3d-ad-m9,patchcore-fpfh,patchcore-fpfh+raw,btf-raw,btf-fpfh

    row (4 classes)          O paper / ours   P paper / ours   lock_nut O/P (paper)   threaded_nail O/P (paper)
    II/III Ours (open3d-ad)  84.39 / 84.08    70.52 / 81.42    80.60/78.66 (78.47/69.48)  80.20/76.33 (84.51/78.76)
    VIII M6                  83.08 / 83.39    69.18 / 81.30    79.25/78.49            79.83/76.23
    VI PatchCore FPFH        51.78 / 85.73    54.34 / 90.74    91.38/91.18            76.92/85.43
    VI PatchCore FPFH+Raw    55.63 / 87.58    53.14 / 91.60    87.25/91.29            82.58/86.60
    VI BTF Raw               93.15 / 93.01    66.31 / 95.48    99.21/99.09            83.29/91.02
    VI BTF FPFH              49.40 / 68.12    51.14 / 83.09    63.54/80.27            62.63/79.73

Open3D-AD's O within 0.3 of the paper's (83.80 over the same four classes); P +10.9 (washer +17,
threaded_nail -2.4). Spearman over the five II+VI rows O 0.70 (two classes: 0.90; Table VI's four
rows alone 1.00: BTF-Raw > FPFH+Raw > FPFH > BTF-FPFH as in the paper), P -0.10: Open3D-AD sits
below the two PatchCore-FPFH rows where the paper has it 30 points above them. M6 -> M9, now over
the seeds both rows ran in full with a paired standard error (``paired_gain``; the session-15
figures were paired means): O +0.68 +- 0.32 (4 pairs; the paper's +1.31 within 2 SE and a factor
of 2), P +0.12 +- 0.01 (the paper's +1.34 is not: ours gains a tenth of its point level). Washer +
split_pin over seeds 1-3, five pairs: O +0.42 +- 0.21.

Session 17: is the point-level excess ours or the data's? The authors' own Open3D-AD pipeline
(787a2d7 ``Open3DAD/`` with run.sh's arguments, rebuilt from numpy + Open3D in a throwaway harness
that reproduces their official demo run to 0.3 / 0.5 points at the class mean; benchmarks/
fidelity.py, "Session 17") scored on the same snapshot with the same partition (known Bump +
Deformation, 5 seen each, seed 1; 90 test samples per class), O / P x 100:

    class                 ours (open3d-ad)   authors' pipeline   paper (Tables II / III)
    square_taper_washer   96.70 / 88.93      93.70 / 88.35       89.6 / 71.9
    split_pin             78.80 / 81.77      81.05 / 82.77       82.6 / 75.6
    lock_nut              80.60 / 78.66      78.10 / 80.39       78.47 / 69.48
    threaded_nail         80.20 / 76.33      75.10 / 79.19       84.51 / 78.76
    mean of the four      84.08 / 81.42      81.99 / 82.67       83.80 / 73.92

The authors' code puts the regenerated points where ours does (P within 3 points on each
class, 1.3 at the mean) and 8.8 points above its own published point level at the mean
(threaded_nail alone at it), while its object level lands 1.8 below the paper's (their
unoriented normals, fidelity.py, cost their washer 6.2 P points at this scale; oriented, their
pipeline scores it 96.2 / 94.6). So the point-level gap is in the data, not in our
implementation of the method: on real Open-Industry scans the labelled points rank lower among
the normal ones than on ours, for the authors' code as for ours. (With known Bump alone, 5 seen:
their pipeline 89.2 / 90.0 and 80.6 / 83.6.)

Session 18 (a fresh machine: the session-17 snapshot and runs were gone): open-industry-full
rebuilt from scratch with the faster scan stages (benchmarks/scan_speed.py; 22:16 UTC, 12.5 min
a class on two cores) and the decoder made deterministic (acquisition/decode.py), so its scans
differ from v4's by float rounding and every defect is redrawn. Its first four classes,
Open3D-AD, k = 5, seed 1 (``realism_variant.py`` snapshots /work/runs/s18snap{,2,3}, runs
/work/runs/s18runs{,2,3}), O / P (v4; paper):

    square_taper_washer   94.95 / 87.53   (96.70 / 88.93; 89.60 / 71.85)
    split_pin             75.60 / 81.36   (78.80 / 81.77; 82.61 / 75.57)
    lock_nut              82.70 / 78.72   (80.60 / 78.66; 78.47 / 69.48)
    threaded_nail         77.85 / 76.97   (80.20 / 76.33; 84.51 / 78.76)
    mean of the four      82.78 / 81.15   (84.08 / 81.42; 83.80 / 73.92)

The regenerated benchmark holds its levels across a rebuild (class cells within 3.2 O / 1.4 P,
four-class means within 1.3 / 0.3): O 1.0 below the paper's over these classes, P 7.2 above it.
M6 -> M9: washer +0.15 / +0.06, split_pin + lock_nut paired +1.15 +- 0.10 / +0.17 +- 0.02,
threaded_nail +0.72 / +0.12; mean of the four +0.79 / +0.13 (the paper's +1.31 / +1.34).
The generator lever left from session 17, labels wider than the geometric change at the
paper's ratio (a smaller carve plus an annotator's margin, ``realism_variant.py --set``; the
washer, the same scans, 60 anomalous samples redrawn, ratio mean and range; Open3D-AD / M6):

    spec (area x0.85, margin 0)      1.05 % (0.52-2.00)   94.95 / 87.53   M6 94.80 / 87.47
    area x0.8, margin 0.3 mm         1.31 % (0.73-2.42)   96.65 / 86.32   M6 96.45 / 86.25
    area x0.6, margin 0.5 mm         1.30 % (0.84-2.17)   97.95 / 85.23   M6 97.90 / 85.17

A point of P per 0.1 mm of margin at the paper's ratio, the object level unmoved (within
redraw noise): the scores spread past a 0.5 mm rim as they spread past the carve, so this
lever cannot take out the washer's 16 points either, and the spec keeps geometric labels.

Session 19 (the session-18 machine kept its files): the build resumed and went on class by class;
each finished class was snapshotted and run at once (``/work/notes/s19/chain.sh``: the same
``realism_variant.py`` + ``paper_tables.py`` commands per class, feature cache shared). Open3D-AD,
k = 5, seed 1, O / P (paper):

    l_shaped_screw        65.80 / 68.07   (90.52 / 73.70)   M6 65.20 / 67.91
    circlip               87.40 / 83.10   (90.09 / 70.34)   M6 87.20 / 82.94   (41K points, scan-limited)
    internal_tooth_lock_washer 82.40 / 78.88 (79.23 / 64.75) M6 80.80 / 78.61   (38K points, scan-limited)
    mean of the seven     80.96 / 79.23   (85.00 / 72.06 over the same seven; 84.39 / 70.52 over 15)

M6 -> M9 over the seven classes +0.80 / +0.16 (paper +1.31 / +1.34). Tables VII and VIII on the
session-18 split_pin + lock_nut (``/work/notes/s19/chain2.sh``; seed 1, k = 5), O / P, mean of
the two (paper): M1 79.15 / 80.04 (84.39 / 70.52), M2 78.01 / 85.53 (80.10 / 67.43), M3 64.17 /
83.49 (81.33 / 68.98), M4 76.52 / 78.25 (83.20 / 69.84), M5 79.25 / 79.96 (83.50 / 69.66); M6
78.00 / 79.87, M7 78.53 / 81.43, M8 78.70 / 81.43, M9 79.15 / 80.04 (83.08 / 69.18, 83.16 /
70.17, 83.21 / 70.25, 84.39 / 70.52). Table VIII's O rises M6 < M7 < M8 < M9 as the paper's
(Spearman 1.00; P 0.20: M7 and M8 above M9); Table VII's O ranks CDS and the approximate greedy
coreset on top and random sampling last (Spearman 0.60; the paper has identity last).

l_shaped_screw is the first class more than 5 O points off the paper (-24.7). Its per-sample
scores (cached features, ``/work/notes/s19/persample.py``) say why: per defect type against the
40 normal test samples, O-AUROC Bump 55.0, Dent 52.1, Scar 49.6 (at chance), Deformation 80.0,
Scratch 93.8. For the first three the highest score inside the label (mean 0.073-0.092) lies
below the normal samples' own maxima (mean 0.104). The defects are drawn alike on every class
(the ratio target sets the size: Bump/Dent radius 2.17 mm and depth 0.35 mm here, 2.25 / 0.37 on
the washer, whose Bump and Dent are found), but here they sit on a Ø 6 rod, where a smooth
cosine dish of that size is a small change of a surface already curved everywhere. The M6 x 1
thread is not the cause: with the threaded leg
masked out (y < -8, -5 or 0 mm) O stays 64.1-66.6 (P rises to 74.3-74.7). The defect depth is a
lever: the class's 60 anomalies redrawn at ``defect_depth_scale = 1.0`` (spec 0.65; same scans)
give 75.20 / 77.18, +9.4 O and +9.1 P, still 15 O below the paper, and a global depth change
would lift every class's P, already 6-17 above the paper. What real dents and bumps on thin
parts have that ours lack is probably a sharper rim (the spec draws Bump/Dent with the smooth
``cosine`` falloff; ``annotation/specs.py`` also has ``spherical``), or a size set by the local
thickness rather than the part's area; not tried (each needs a redraw and a run per class).
One test scan of this class (test_022, sample l_shaped_screw_023) holds a ghost layer 0.5-1.6 mm
inside the rod over part of its length (registration pair fitness 0.44 against 0.56-0.72 in the
other 39 scans): FRICP slid the pair by 0.94° / 2.02 mm along the rod and the two-camera
registration accepted it; it is the highest-scoring normal sample (0.149). A correction that
lowers the pair's fitness by more than 0.05 below the start's is now refused
(MultiviewConfig.max_fitness_loss; the residual-spread fit check, which also refuses it, turned
on for two cameras failed the reconstruction accuracy tests on box_with_post). Re-registered, the
scans of six classes keep every other decision; the build in progress keeps its scans, made by
the earlier code.

CPU budget of the whole protocol on open-industry-full (issue 21 part 4; session 9). Per class:
60 normal references, 100 test samples (40 normal, 12 of each of 5 types); open-set: 2 known
types, 2k seen samples. Per-cloud costs at ~90K points, CPU s on one thread
(``benchmarks/detector_speed.py``): multi-FPFH of Open3D-AD / M1-M9 7.5; Point-MAE/BERT tokens
3.7 (DevNet, DRA, PatchCore-PointMAE), 4.8 (M3DM), 3.8 (Reg3D-AD); FPFH-row features 0.36-0.98.
Runs per (class, seed): Ours at k = 5 and 10, M2-M5, M7, M8 at k = 5 (220 clouds each: 60
references, 60 Norm-AS, seen, tested), M6 (150); DevNet/DRA pm/pb at k = 5 and 10 (4 views of
every training cloud + 1 per test cloud: 370-400 token sets per run); Table VI's nine rows
(160 clouds each). What the feature cache removes: the multi-FPFH of a reference or test cloud
is seed-independent (every point kept), so it is computed once for all runs, k and seeds, and the
Norm-AS clouds once per seed; DevNet and DRA share their token bags at the same seed and
encoder (k = 5 and 10 share the references' views); Table VI's rows draw seeded subsets, so
they gain nothing within one pass (only when resumed).

    CPU hours, 15 classes          no cache   with cache (first seed + each further seed)
    Open3D-AD, M1-M9 features        57.8/seed  5.0 once + 1.9/seed
    their supports (CDS at 60 refs:     2.3/seed    2.3/seed
      68.7 CPU s per fit, measured)
    DevNet/DRA pm+pb tokens          47.5/seed  13.3/seed
    Table VI token rows              11.4/seed  11.4/seed
    Table VI FPFH rows (+PO3AD score)  1.8/seed   1.8/seed
    seeds 1-3                          ~363       ~97
    seeds 1-5                          ~604      ~158

With ``--workers 2`` on two otherwise idle cores the wall time is about half: ~49 h for seeds
1-3, ~79 h for 1-5. Not in these figures (not measured at 60 references): PO3AD's training
(1500 steps of 8 clouds of 16,384 points, per class and seed), the DevNet/DRA heads' 300
steps on the tokens, M2's scoring against every training patch (245,760 per class), loading
and Norm-AS synthesis. The acceptance figures need only part of it. Run in phases, all into one
RUNDIR (resumable: rerun the same command after a kill; finished runs are kept, the feature cache
keeps the features):

    cd /work/main; D=/work/builds/open-industry-full; R=/work/runs/oif-paper
    O3D=open3d-ad,open3d-ad-m1,open3d-ad-m2,open3d-ad-m3,open3d-ad-m4,open3d-ad-m5,open3d-ad-m6,open3d-ad-m7,open3d-ad-m8,open3d-ad-m9
    # 1. Tables II/III Ours, VII, VIII (Open3D-AD within 5 points; M6 -> M9): ~18 CPU h, ~9 h wall
    #    with Open3D's FPFH; the numpy multi-scale FPFH (session 10, 7.13 -> 3.89 CPU s per
    #    sample, benchmarks/fpfh_speed.py) brings it to ~10 CPU h, ~5 h wall (scaled, not run).
    #    The acceptance figures first: add --seeds 1 --k 5 --methods open3d-ad,open3d-ad-m6,open3d-ad-m9
    #    (every cloud's features once, ~2.7 CPU h, then the supports), then widen.
    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python -P benchmarks/paper_tables.py $D --runs $R \
        --tables II,III,VII,VIII --k 5 10 --seeds 1-3 --methods $O3D --workers 2 >> $R.1.log 2>&1 &
    # 2. Table VI's FPFH rows and PO3AD (no reuse across seeds: no cache): ~5 CPU h + PO3AD training
    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python -P benchmarks/paper_tables.py $D --runs $R \
        --tables VI --seeds 1-3 --methods patchcore-fpfh,patchcore-fpfh+raw,btf-raw,btf-fpfh,po3ad \
        --no-feature-cache --workers 2 >> $R.2.log 2>&1 &
    # 3. Tables II/III DevNet/DRA (their tokens are reused within a seed and class: a bound of
    #    20 GB keeps them; ~0.6 GB per class, seed and encoder): ~40 CPU h
    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python -P benchmarks/paper_tables.py $D --runs $R \
        --tables II,III --k 5 10 --seeds 1-3 --methods devnet-pm,devnet-pb,dra-pm,dra-pb \
        --feature-cache-gb 20 --workers 2 >> $R.3.log 2>&1 &
    # 4. Table VI's token rows: ~34 CPU h
    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python -P benchmarks/paper_tables.py $D --runs $R \
        --tables VI --seeds 1-3 --methods patchcore-pointmae,m3dm,reg3d-ad --no-feature-cache \
        --workers 2 >> $R.4.log 2>&1 &
    # then every table from the finished runs (seconds)
    .venv/bin/python -P benchmarks/paper_tables.py $D --runs $R --k 5 10 --seeds 1-3 --report-only

Run the phases one after another (a RUNDIR is locked by the process writing it). Phase 1's cache
is ~0.7 GB per class for seeds 1-3 (2.1 MB per cloud); DevNet's token entries are ~1.3 MB
each (M3DM's three blocks ~2.9 MB), hence the bound and ``--no-feature-cache`` above.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import platform
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
SEED_FILE = "000_59f5340ba3ca2db6.txt"
SEED_PATH = REPO.parent / "shared" / "seeds" / SEED_FILE
PAPER_KS = (5, 10)
TABLE_NAMES = ("II", "III", "VI", "VII", "VIII")
SUBSETS = ("overall", "seen", "unseen")
DASH = "—"

# ---- the paper's numbers (seed 000_59f5340ba3ca2db6.txt), copied as printed -------------------

# Tables II (O-AUROC) and III (P-AUROC): per class, DevNet_pm DevNet_pb DRA_pm DRA_pb Ours at
# five samples per class, then the same five at ten.
II_III_ROWS = ("DevNet_pm", "DevNet_pb", "DRA_pm", "DRA_pb", "Ours")
TABLE_II_TEXT = """\
Square Taper Washer 56.96±3.31 68.36±1.97 66.81±1.87 67.63±3.76 89.60±1.46 58.67±4.91 67.81±1.56 69.71±1.27 69.51±1.94 88.86±1.47
Split Pin 59.65±1.71 67.93±3.76 65.85±1.41 73.54±4.27 82.61±1.20 56.85±5.89 68.62±3.91 78.08±2.57 70.53±2.73 86.72±1.78
Lock Nut 59.43±3.62 65.69±2.49 49.77±3.88 63.19±4.95 78.47±6.87 62.18±3.97 63.62±2.72 70.06±5.06 71.51±2.70 73.58±6.88
Threaded Nail 55.67±3.88 57.93±3.07 64.43±3.06 59.34±4.74 84.51±3.92 55.96±3.68 58.03±3.06 72.59±2.60 61.33±2.40 83.30±2.76
L-shaped Screw 55.13±7.94 61.31±1.53 63.83±1.81 61.46±6.18 90.52±2.40 54.82±3.80 61.87±1.93 61.52±1.86 66.95±5.61 88.15±1.73
Circlip 56.61±4.24 61.15±3.24 58.30±3.60 71.15±4.97 90.09±2.64 59.07±2.10 61.85±4.15 74.13±3.06 76.49±3.61 86.81±3.36
Internal Tooth Lock Washer 49.83±2.31 60.95±3.25 54.80±1.82 59.84±5.46 79.23±6.12 59.58±4.63 58.83±3.37 68.05±1.82 61.15±4.89 78.75±4.40
Double Lug Washer 52.01±5.03 67.46±4.31 67.60±2.82 70.72±6.33 90.13±1.50 55.14±2.04 68.22±4.08 65.74±1.95 68.42±3.68 89.64±1.22
Square Plug 63.03±4.57 67.25±2.53 56.12±1.22 70.69±4.06 76.47±1.98 68.32±2.88 68.06±2.24 72.37±3.49 71.28±2.51 76.01±4.05
S-hook 53.26±4.15 62.70±2.22 71.43±4.46 64.36±6.31 94.44±0.89 56.32±1.89 62.80±1.47 64.90±2.60 64.95±3.33 96.22±1.04
External Tooth Lock Washer 58.02±7.12 63.05±2.00 71.18±5.19 66.38±6.26 80.68±5.79 55.84±5.92 63.09±3.49 74.03±0.96 66.04±3.00 80.83±1.61
Hex Head Plug 61.47±4.83 70.15±1.92 75.33±5.37 74.20±4.04 82.95±4.16 63.52±3.62 71.67±2.38 74.73±2.67 73.31±1.34 75.46±4.87
Eyelet Self-tapping Screw 56.61±4.94 60.66±2.99 64.33±6.43 65.13±5.43 85.85±1.44 51.97±1.81 61.98±2.30 73.79±3.83 64.70±3.18 86.34±2.83
Heavy Washer 62.58±3.40 66.15±3.98 65.68±6.24 68.18±4.66 77.08±2.21 62.05±2.96 65.12±4.34 73.14±6.65 65.28±2.94 69.36±6.33
Locking Tab Washer 58.07±4.37 66.97±1.31 68.12±6.50 70.37±4.92 83.23±2.38 59.81±4.01 69.56±3.95 68.83±6.95 75.71±1.36 81.12±1.29
Average 57.22±1.42 64.51±1.15 64.24±2.21 67.08±3.22 84.39±0.44 58.67±1.64 64.74±1.07 70.78±0.80 68.48±0.57 82.74±0.79
"""
TABLE_III_TEXT = """\
Square Taper Washer 50.94±2.53 51.31±3.29 56.02±3.36 51.39±1.90 71.85±1.68 49.95±2.19 50.88±3.43 57.85±4.30 51.70±4.88 70.25±4.61
Split Pin 48.10±2.57 49.20±1.49 58.75±3.19 51.61±4.05 75.57±3.46 51.10±4.38 48.83±0.83 59.38±1.81 50.56±1.07 84.82±1.95
Lock Nut 51.18±3.24 48.94±2.39 49.40±1.90 50.22±1.76 69.48±1.97 49.28±1.98 49.37±4.30 50.72±3.18 49.17±3.15 73.21±4.40
Threaded Nail 48.16±1.42 49.60±3.42 56.98±8.33 51.40±6.61 78.76±2.04 52.94±3.75 49.26±3.35 62.44±4.26 58.74±2.71 84.25±1.63
L-shaped Screw 51.22±3.07 50.88±1.76 49.62±1.06 51.75±2.76 73.70±3.39 48.99±2.08 51.12±1.03 52.95±3.99 50.79±1.97 85.34±0.97
Circlip 47.62±2.14 49.56±2.45 54.29±3.71 48.88±3.16 70.34±4.41 49.75±2.80 49.21±3.07 53.63±1.76 48.03±3.07 87.00±1.38
Internal Tooth Lock Washer 50.28±1.17 50.41±0.90 56.12±4.13 51.16±2.30 64.75±2.92 51.09±1.99 49.80±1.32 59.73±3.10 51.81±1.92 68.31±2.60
Double Lug Washer 51.00±5.43 49.20±4.26 66.06±3.86 49.58±6.05 71.67±1.79 52.24±6.55 49.58±4.59 62.36±6.10 57.44±4.86 69.61±3.93
Square Plug 51.25±3.17 50.99±2.98 51.65±2.88 51.89±3.55 64.89±2.49 51.04±2.58 50.09±3.54 53.79±4.64 50.81±2.58 68.09±1.02
S-hook 49.59±2.17 49.87±2.00 55.51±6.76 53.76±5.69 74.21±2.08 51.66±3.17 49.52±1.85 59.02±2.94 53.37±8.28 87.32±2.71
External Tooth Lock Washer 53.08±2.05 52.16±4.80 52.13±5.40 49.71±4.61 70.89±2.02 50.80±2.76 51.91±4.88 55.18±6.29 49.10±5.21 81.61±2.37
Hex Head Plug 51.36±3.04 56.04±3.43 49.91±2.59 53.77±2.36 60.44±3.43 52.18±3.24 54.91±3.49 50.80±1.13 53.10±4.06 62.89±2.46
Eyelet Self-tapping Screw 50.85±3.04 49.56±1.49 49.69±4.35 48.86±4.57 56.97±1.21 51.55±3.66 49.53±1.49 51.47±5.22 50.52±2.34 60.38±2.01
Heavy Washer 50.31±2.24 50.04±3.99 57.90±4.31 52.71±6.11 72.11±2.67 52.77±5.89 50.47±3.90 54.06±8.27 52.80±4.63 75.01±2.44
Locking Tab Washer 54.42±1.19 49.66±1.63 51.29±3.91 52.42±4.49 82.16±1.64 53.88±2.67 50.85±2.63 52.77±2.65 52.52±3.43 86.21±1.92
Average 50.62±0.77 50.49±0.69 54.35±1.47 51.27±0.86 70.52±0.56 51.28±1.93 50.36±1.23 55.74±1.31 52.03±1.69 76.29±0.77
"""
# Table VI as printed: one number per cell (no ±), O-AUROC, P-AUROC, O-AUPRC, P-AUPRC
TABLE_VI = {
    "PatchCore FPFH": (51.78, 54.34, 52.45, 0.70),
    "PatchCore FPFH+Raw": (55.63, 53.14, 56.90, 0.97),
    "PatchCore PointMAE": (50.77, 50.72, 53.01, 1.30),
    "BTF Raw": (93.15, 66.31, 94.15, 1.11),
    "BTF FPFH": (49.40, 51.14, 51.41, 0.72),
    "M3DM PointMAE": (93.94, 60.21, 94.63, 2.61),
    "M3DM PointBert": (90.91, 61.29, 92.29, 1.95),
    "R3D-AD Coordinates": (53.59, 22.15, 54.57, 0.35),
    "ISMP PointMAE": (70.30, 51.00, 63.48, 0.60),
    "PO3AD Coordinates": (61.51, 66.12, 66.57, 5.20),
}
TABLE_VI_METRICS = ("O-AUROC", "P-AUROC", "O-AUPR", "P-AUPR")
# Table VII: O-AUROC, P-AUROC (mean, std) and FPS (RTX 4090), five samples per class
TABLE_VII = {
    "M1": ((84.39, 0.44), (70.52, 0.56), 8.4),
    "M2": ((80.10, 1.32), (67.43, 2.40), 10.1),
    "M3": ((81.33, 1.88), (68.98, 2.18), 9.6),
    "M4": ((83.20, 0.95), (69.84, 2.21), 8.8),
    "M5": ((83.50, 4.69), (69.66, 6.35), 9.0),
}
# Table VIII: O-AUROC, P-AUROC (mean, std), five samples per class
TABLE_VIII = {
    "M6": ((83.08, 0.59), (69.18, 0.40)),
    "M7": ((83.16, 0.29), (70.17, 0.79)),
    "M8": ((83.21, 0.58), (70.25, 0.24)),
    "M9": ((84.39, 0.44), (70.52, 0.56)),
}


def class_key(name: str) -> str:
    """A class name as a dataset folder spells it: "L-shaped Screw" -> "l_shaped_screw"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def parse_rows(text: str, n_cols: int) -> dict[str, list[tuple[float, float]]]:
    """"Class 56.96±3.31 ..." lines -> {class_key or "Average": [(mean, std), ...]}."""
    out = {}
    for line in text.strip().splitlines():
        cells = re.findall(r"(\d+\.\d+)±(\d+\.\d+)", line)
        name = line[:line.index(re.search(r"\d+\.\d+±", line).group(0))].strip()
        if len(cells) != n_cols:
            raise ValueError(f"{len(cells)} cells in {line!r}, expected {n_cols}")
        out["Average" if name == "Average" else class_key(name)] = [(float(m), float(s)) for m, s in cells]
    return out


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of a paper table and our counterpart (``method`` None: we have none)."""
    label: str
    method: str | None
    overrides: tuple[tuple[str, object], ...] = ()
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    title: str
    protocol: str                      # open-set | one-class
    metrics: tuple[str, ...]
    paper_ks: tuple[int | None, ...]   # the paper's k of each column group (None: one-class)
    rows: tuple[Row, ...]
    # (row label, paper k, metric) -> {class key or "Average": (mean, std or None)}
    paper: dict
    per_class: bool                    # the paper prints per-class cells
    fps: dict = dataclasses.field(default_factory=dict)   # row label -> the paper's FPS


def _ii_iii(name: str, title: str, metric: str, text: str) -> Table:
    rows = tuple(Row(lbl, m) for lbl, m in zip(II_III_ROWS, ("devnet-pm", "devnet-pb", "dra-pm", "dra-pb",
                                                              "open3d-ad")))
    parsed = parse_rows(text, 2 * len(II_III_ROWS))
    paper = {}
    for i, k in enumerate(PAPER_KS):
        for j, lbl in enumerate(II_III_ROWS):
            paper[(lbl, k, metric)] = {cls: cells[i * len(II_III_ROWS) + j] for cls, cells in parsed.items()}
    return Table(name, title, "open-set", (metric,), PAPER_KS, rows, paper, True)


def paper_tables() -> dict[str, Table]:
    """The five tables, the paper's numbers and our rows."""
    vi_rows = (Row("PatchCore FPFH", "patchcore-fpfh"), Row("PatchCore FPFH+Raw", "patchcore-fpfh+raw"),
               Row("PatchCore PointMAE", "patchcore-pointmae"), Row("BTF Raw", "btf-raw"),
               Row("BTF FPFH", "btf-fpfh"), Row("M3DM PointMAE", "m3dm"),
               Row("M3DM PointBert", "m3dm", (("encoder", "point-bert:point_bert_small"),),
                   "our m3dm on the shipped Point-BERT"),
               Row("R3D-AD Coordinates", None, (), "R3D-AD (diffusion reconstruction) is not implemented; "
                   "it is not Reg3D-AD"),
               Row("ISMP PointMAE", None, (), "ISMP is not implemented"),
               Row("PO3AD Coordinates", "po3ad"),
               Row("Reg3D-AD", "reg3d-ad", (), "not in Table VI (its R3D-AD is another method)"))
    vi = {(lbl, None, m): {"Average": (v[i], None)} for lbl, v in TABLE_VI.items()
          for i, m in enumerate(TABLE_VI_METRICS)}
    vii = {(lbl, 5, m): {"Average": v[i]} for lbl, v in TABLE_VII.items()
           for i, m in enumerate(("O-AUROC", "P-AUROC"))}
    viii = {(lbl, 5, m): {"Average": v[i]} for lbl, v in TABLE_VIII.items()
            for i, m in enumerate(("O-AUROC", "P-AUROC"))}
    return {
        "II": _ii_iii("II", "Object-AUROC, open-set", "O-AUROC", TABLE_II_TEXT),
        "III": _ii_iii("III", "Point-AUROC, open-set", "P-AUROC", TABLE_III_TEXT),
        "VI": Table("VI", "self-supervised methods (one-class, see the docstring)", "one-class",
                    TABLE_VI_METRICS, (None,), vi_rows, vi, False),
        "VII": Table("VII", "subsampling strategies, open-set", "open-set", ("O-AUROC", "P-AUROC"), (5,),
                     tuple(Row(f"M{i}", f"open3d-ad-m{i}") for i in range(1, 6)), vii, False,
                     {lbl: v[2] for lbl, v in TABLE_VII.items()}),
        "VIII": Table("VIII", "ablation, open-set", "open-set", ("O-AUROC", "P-AUROC"), (5,),
                      tuple(Row(f"M{i}", f"open3d-ad-m{i}") for i in range(6, 10)), viii, False),
    }


# ---- settings ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Settings:
    dataset: Path
    runs: Path
    tables: tuple[str, ...] = TABLE_NAMES
    ks: tuple[int, ...] = PAPER_KS
    seeds: tuple[int, ...] = (1, 2, 3)
    classes: tuple[str, ...] = ()       # empty: every class of the dataset
    methods: tuple[str, ...] = ()       # empty: every method of the tables
    subset: str = "overall"
    sets: tuple[tuple[str | None, str, object], ...] = ()   # (method or None, key, value)
    report_only: bool = False
    overwrite: bool = False
    feature_cache: Path | None = None   # None: RUNDIR/feature-cache
    no_feature_cache: bool = False
    feature_cache_gb: float = 0.0
    workers: int = 1

    def cache_folder(self) -> Path | None:
        return None if self.no_feature_cache else (self.feature_cache or self.runs / "feature-cache")


def _error(msg: str, path=None):
    from scan2ad.errors import InputError
    return InputError(msg, path) if path is not None else InputError(msg)


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Validate every setting where it enters; a bad one is an InputError naming it."""
    import click

    from scan2ad.detectors.cli import _overrides, _seeds

    tables = tuple(t.upper() for t in _words(args.tables))
    bad = [t for t in tables if t not in TABLE_NAMES]
    if bad or not tables:
        raise _error(f"--tables: unknown table(s) {bad or args.tables!r}; the paper's are {','.join(TABLE_NAMES)}")
    if len(set(tables)) != len(tables):
        raise _error(f"--tables repeats a table: {args.tables}")
    ks = tuple(args.k)
    if not 1 <= len(ks) <= len(PAPER_KS) or any(k < 1 for k in ks) or len(set(ks)) != len(ks):
        raise _error(f"--k wants one or two distinct seen-sample counts >= 1 (paired with the paper's 5 and "
                     f"10), got {list(ks)}")
    try:
        seeds = _seeds(args.seeds)
    except click.BadParameter as exc:
        raise _error(f"--seeds: {exc.message}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise _error(f"--seeds must name distinct seeds, got {args.seeds!r}")
    sets = []
    for item in args.set or []:
        key, eq, value = item.partition("=")
        method, colon, key = key.rpartition(":") if ":" in key else (None, "", key)
        if not eq or not key.strip() or (colon and not method.strip()):
            raise _error(f"--set wants [METHOD:]KEY=VALUE, got {item!r}")
        try:
            val = _overrides((f"{key.strip()}={value}",), None)[key.strip()]
        except click.BadParameter as exc:
            raise _error(f"--set {item!r}: {exc.message}") from None
        sets.append((method.strip() if method else None, key.strip(), val))
    dataset = Path(args.dataset)
    if not dataset.is_dir():
        raise _error("the dataset is not a folder (an Open-Industry-layout dataset is wanted)", dataset)
    gb = args.feature_cache_gb
    if not (math.isfinite(gb) and gb >= 0):
        raise _error(f"--feature-cache-gb wants a size in GB >= 0 (0 = unbounded), got {gb}")
    if args.feature_cache and args.no_feature_cache:
        raise _error("--feature-cache and --no-feature-cache contradict each other")
    cache = Path(args.feature_cache) if args.feature_cache else None
    if cache is not None and cache.exists() and not cache.is_dir():
        raise _error("--feature-cache must be a folder", cache)
    return Settings(dataset=dataset, runs=Path(args.runs), tables=tables, ks=tuple(sorted(ks)), seeds=seeds,
                    classes=tuple(_words(args.classes or "")), methods=tuple(_words(args.methods or "")),
                    subset=args.subset, sets=tuple(sets), report_only=args.report_only, overwrite=args.overwrite,
                    feature_cache=cache, no_feature_cache=args.no_feature_cache, feature_cache_gb=gb,
                    workers=_workers(args.workers))


def _workers(n: int) -> int:
    if not 1 <= n <= (os.cpu_count() or 1) * 4:
        raise _error(f"--workers wants 1 to {(os.cpu_count() or 1) * 4} processes, got {n}")
    return n


# ---- the runs ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Group:
    """The runs behind one (row, table column group): a method and settings under one protocol."""
    method: str
    overrides: str             # the detector settings as canonical JSON ("{}": the registry's)
    protocol: str
    k: int | None

    def folder(self, runs: Path, seed: int, cls: str) -> Path:
        from scan2ad.io import stable_hash

        tag = self.method.replace("+", "_")
        if self.settings:
            tag += "@" + stable_hash(self.settings)[:8]
        proto = self.protocol if self.k is None else f"{self.protocol}-k{self.k}"
        return runs / "runs" / proto / tag / f"seed{seed}" / cls

    @property
    def settings(self) -> dict:
        return json.loads(self.overrides)


def our_k(paper_k: int | None, ks: Sequence[int]) -> int | None:
    """Our k standing for the paper's (paired in order; None for one-class)."""
    if paper_k is None:
        return None
    i = PAPER_KS.index(paper_k)
    return ks[i] if i < len(ks) else None


def _canonical(method: str, overrides: dict) -> tuple[str, str]:
    """An entry whose detector and resolved settings equal an earlier-named entry's shares its
    runs (open3d-ad-m1 and -m9 are open3d-ad)."""
    from scan2ad.detectors.registry import REGISTRY, create

    key = json.dumps(overrides, sort_keys=True, default=str)  # hashable, lists included
    for other in ("open3d-ad",):
        if (method != other and REGISTRY[method].target == REGISTRY[other].target
                and create(method, **overrides).config == create(other, **overrides).config):
            return other, key
    return method, key


def plan(s: Settings, tables: dict[str, Table]) -> dict[tuple[str, str, int | None], Group]:
    """(table, row label, paper k) -> the Group of runs behind it, for the rows with a method."""
    from scan2ad.detectors.registry import REGISTRY, create, detector_class

    wanted = {r.method for t in s.tables for r in tables[t].rows if r.method}
    unknown = [m for m in s.methods if m not in REGISTRY]
    if unknown:
        raise _error(f"--methods: unknown detector(s) {unknown}; known: {', '.join(REGISTRY)}")
    absent = [m for m in s.methods if m not in wanted]
    if absent:
        raise _error(f"--methods: {absent} have no row in Table(s) {','.join(s.tables)}; their methods are "
                     f"{', '.join(sorted(wanted))}")
    chosen = set(s.methods) or wanted
    for method, key, _ in s.sets:
        if method is not None and method not in chosen:
            raise _error(f"--set {method}:{key}: {method} is not among the methods run ({', '.join(sorted(chosen))})")
        targets = [method] if method else sorted(chosen)
        if not any(key in {f.name for f in dataclasses.fields(detector_class(m).Config)} for m in targets):
            raise _error(f"--set {key}: no setting {key!r} in {', '.join(targets)}")
    out = {}
    for t in s.tables:
        table = tables[t]
        for row in table.rows:
            if row.method is None or row.method not in chosen:
                continue
            fields = {f.name for f in dataclasses.fields(detector_class(row.method).Config)}
            ov = dict(row.overrides)
            for method, key, val in s.sets:
                if (method == row.method) or (method is None and key in fields):
                    ov[key] = val
            if ov:  # a bad --set value fails here, before any run
                create(row.method, **ov)
            method, ov_t = _canonical(row.method, ov)
            for pk in table.paper_ks:
                k = our_k(pk, s.ks)
                if pk is not None and k is None:
                    continue
                out[(t, row.label, pk)] = Group(method, ov_t, table.protocol, k)
    return out


def _eval_settings(g: Group, seed: int, cls: str, s: Settings | None = None):
    """The run's settings; with ``s``, its feature cache too (not part of the run's job: a run
    made with or without the cache is the same run)."""
    from scan2ad.detectors.evaluate import EvalSettings

    cache = s.cache_folder() if s is not None else None
    return EvalSettings(method=g.method, protocol=g.protocol, k=g.k or 5, seeds=(seed,), classes=(cls,),
                        overrides=g.settings, heatmaps=0, plots=False, save_models=False,
                        feature_cache=str(cache or ""), feature_cache_gb=s.feature_cache_gb if s else 0.0)


def finished(folder: Path, settings, root: Path) -> dict | None:
    """The metrics of a complete run of the same job in ``folder``, else None."""
    from scan2ad.detectors.evaluate import run_job
    from scan2ad.io import read_json
    from scan2ad.outputs import read_marker

    mark = read_marker(folder)
    job = json.loads(json.dumps(run_job(settings, root), default=str))
    if mark and mark.get("state") == "complete" and mark.get("job") == job and (folder / "metrics.json").is_file():
        return read_json(folder / "metrics.json")
    return None


def run_all(s: Settings, groups: dict, classes: list[str]) -> tuple[dict, int]:
    """Run (or reuse) every needed (group, seed, class); returns ({(group, seed, cls): metrics},
    number of runs missing, which only ``--report-only`` leaves)."""
    from scan2ad.detectors.evaluate import evaluate
    from scan2ad.log import progress

    # seed by seed (a run stopped part-way has every method at the first seeds), and within a
    # seed class by class, so that the runs reading a class's clouds follow each other (the
    # feature cache's entries are reused while fresh; with --workers, one worker takes them all)
    units = list(dict.fromkeys((g, seed, cls) for seed in s.seeds for cls in classes for g in groups.values()))
    results, todo = {}, []
    for g, seed, cls in units:
        m = finished(g.folder(s.runs, seed, cls), _eval_settings(g, seed, cls), s.dataset)
        if m is not None:
            results[(g, seed, cls)] = m
        else:
            todo.append((g, seed, cls))
    print(f"{len(units)} runs needed: {len(results)} finished in {s.runs}, {len(todo)} "
          f"{'missing (--report-only)' if s.report_only else 'to run'}", flush=True)
    if s.report_only:
        return results, len(todo)
    if s.workers > 1 and len(todo) > 1:
        results.update(_run_parallel(s, todo))
    for g, seed, cls in progress([u for u in todo if u not in results], desc="paper tables", unit="run",
                                 leave=True):
        results[(g, seed, cls)] = evaluate(s.dataset, g.folder(s.runs, seed, cls), _eval_settings(g, seed, cls, s),
                                           overwrite=True)  # inside RUNDIR, claimed by us
    if todo and s.cache_folder() is not None:
        from scan2ad.detectors.features.disk_cache import DiskFeatureCache

        n, size = DiskFeatureCache(s.cache_folder()).usage()
        hits = sum((m.get("feature_cache") or {}).get(f"{w}_hits", 0) for m in results.values() for w in ("fit", "score"))
        miss = sum((m.get("feature_cache") or {}).get(f"{w}_misses", 0) for m in results.values() for w in ("fit", "score"))
        print(f"feature cache {s.cache_folder()}: {hits} hits, {miss} misses over the runs; {n} entries, "
              f"{size / 1e9:.2f} GB on disk", flush=True)
    return results, 0


def _run_parallel(s: Settings, todo: list) -> dict:
    """The runs of ``todo`` in ``s.workers`` processes (spawned: torch and OpenMP do not survive
    a fork), one task per (seed, class) so that runs reading the same clouds run one after the
    other in one worker rather than computing the same features side by side; every run claims
    its own folder, and the feature cache is safe to share. The first failure stops the tasks
    not yet started and is raised."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from scan2ad.detectors.evaluate import evaluate_many
    from scan2ad.log import progress

    tasks: dict[tuple[int, str], list] = {}
    for g, seed, cls in todo:
        tasks.setdefault((seed, cls), []).append((g, seed, cls))
    results = {}
    ex = ProcessPoolExecutor(min(s.workers, len(tasks)), mp_context=mp.get_context("spawn"))
    try:
        futures = {ex.submit(evaluate_many, [(s.dataset, g.folder(s.runs, seed, cls), _eval_settings(g, seed, cls, s))
                                             for g, seed, cls in units], True): units
                   for units in tasks.values()}
        for f in progress(as_completed(futures), total=len(futures),
                          desc=f"paper tables ({s.workers} workers, one task per seed and class)", unit="task",
                          leave=True):
            results.update(zip(futures[f], f.result()))
    except BaseException:
        ex.shutdown(wait=True, cancel_futures=True)
        raise
    ex.shutdown(wait=True)
    return results


# ---- arithmetic ------------------------------------------------------------------------------------

def summarise_seeds(per_seed: dict[int, dict[str, float | None]]) -> tuple[dict[str, tuple[float, float]],
                                                                            tuple[float, float]]:
    """{seed: {class: value}} -> per class (mean, std) over seeds and the Average (the class mean of
    each seed, then mean ± std over seeds), as evaluate's metrics.json and the papers do. NaN/None
    values are skipped."""
    from scan2ad.detectors.metrics import mean_std

    def num(v):
        return math.nan if v is None else float(v)

    classes = list(dict.fromkeys(c for d in per_seed.values() for c in d))
    per_class = {c: mean_std([num(d.get(c)) for d in per_seed.values()]) for c in classes}
    means = []
    for d in per_seed.values():
        v = np.array([num(x) for x in d.values()], dtype=np.float64)
        means.append(float(np.nanmean(v)) if v.size and not np.isnan(v).all() else math.nan)
    return per_class, mean_std(means)


def spearman(pairs: Iterable[tuple[float, float]]) -> float:
    """Spearman's rank correlation of (paper, ours) pairs (NaN pairs dropped; NaN under 3 pairs or
    when either side is constant)."""
    from scipy.stats import spearmanr

    p = [(a, b) for a, b in pairs if a is not None and b is not None and not (math.isnan(a) or math.isnan(b))]
    if len(p) < 3 or len({a for a, _ in p}) < 2 or len({b for _, b in p}) < 2:
        return math.nan
    return float(spearmanr([a for a, _ in p], [b for _, b in p]).statistic)


def mean_abs_diff(pairs: Iterable[tuple[float, float]]) -> float:
    d = [abs(a - b) for a, b in pairs if a is not None and b is not None and not (math.isnan(a) or math.isnan(b))]
    return float(np.mean(d)) if d else math.nan


def _f(x: float | None, std: float | None = None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    return f"{x:.2f}" if std is None or math.isnan(std) else f"{x:.2f}±{std:.2f}"


@dataclasses.dataclass
class Cell:
    table: str
    paper_k: int | None
    our_k: int | None
    metric: str
    row: str
    method: str          # ours ('' for none)
    cls: str             # class key or "Average"
    paper: tuple[float, float | None] | None
    ours: tuple[float, float] | None
    seeds: int = 0
    values: tuple[tuple[str, int, float], ...] = ()  # Average cells: every (class, seed, ours) run


def collect_cells(s: Settings, tables: dict[str, Table], groups: dict, results: dict,
                  classes: list[str]) -> list[Cell]:
    """Every (table, k, metric, row, class) cell: the paper's and ours (percent)."""
    cells = []
    for t in s.tables:
        table = tables[t]
        for pk in table.paper_ks:
            k = our_k(pk, s.ks)
            if pk is not None and k is None:
                continue
            for metric in table.metrics:
                for row in table.rows:
                    paper = table.paper.get((row.label, pk, metric), {})
                    g = groups.get((t, row.label, pk))
                    per_seed = {}
                    if g is not None:
                        for seed in s.seeds:
                            vals = {}
                            for cls in classes:
                                m = results.get((g, seed, cls))
                                if m is None:
                                    continue
                                sub = s.subset if table.protocol == "open-set" else "overall"
                                v = m["per_seed"][str(seed)].get(sub, {}).get(cls, {}).get(metric)
                                vals[cls] = math.nan if v is None else 100.0 * v
                            if vals:
                                per_seed[seed] = vals
                    # per class over the seeds run; the Average over the seeds that ran every class
                    per_class = summarise_seeds(per_seed)[0] if per_seed else {}
                    complete = {sd: v for sd, v in per_seed.items() if len(v) == len(classes)}
                    avg = summarise_seeds(complete)[1] if complete else None
                    names = (classes if table.per_class else []) + ["Average"]
                    for cls in names:
                        ours = avg if cls == "Average" else per_class.get(cls)
                        ours = None if ours is None or math.isnan(ours[0]) else ours
                        values = tuple((c, sd, v) for sd, vals in per_seed.items() for c, v in vals.items()
                                       if not math.isnan(v)) if cls == "Average" else ()
                        cells.append(Cell(t, pk, k, metric, row.label, g.method if g else "", cls,
                                          paper.get(cls), ours, len(complete if cls == "Average" else per_seed),
                                          values))
    return cells


def table_stats(cells: list[Cell]) -> dict[tuple[str, int | None, str], dict]:
    """Per (table, paper k, metric): Spearman of the rows' Averages and the mean absolute
    difference over the per-class cells (Average cells where the table has no classes)."""
    out = {}
    for key in dict.fromkeys((c.table, c.paper_k, c.metric) for c in cells):
        group = [c for c in cells if (c.table, c.paper_k, c.metric) == key]
        avg = [(c.paper[0], c.ours[0]) for c in group if c.cls == "Average" and c.paper and c.ours]
        cls_cells = [(c.paper[0], c.ours[0]) for c in group if c.cls != "Average" and c.paper and c.ours]
        out[key] = {"spearman": spearman(avg), "rows": len(avg),
                    "mad": mean_abs_diff(cls_cells or avg), "mad_over": "classes" if cls_cells else "averages",
                    "cells": len(cls_cells or avg)}
    return out


def _avg(cells, table, row, metric, pk):
    for c in cells:
        if (c.table, c.row, c.metric, c.paper_k, c.cls) == (table, row, metric, pk, "Average"):
            return c
    return None


def acceptance(cells: list[Cell]) -> dict:
    """Issue 21's three figures (None where the tables needed were not run)."""
    out: dict = {}
    for t, metric in (("II", "O-AUROC"), ("III", "P-AUROC")):
        c = _avg(cells, t, "Ours", metric, 5)
        if c and c.ours:
            d = c.ours[0] - c.paper[0]
            out[f"open3d_ad_{metric}"] = {"paper": c.paper[0], "ours": c.ours[0], "diff": d, "within_5": abs(d) <= 5}
    for metric in ("O-AUROC", "P-AUROC"):
        pairs = [(c.paper[0], c.ours[0]) for c in cells if c.cls == "Average" and c.paper and c.ours
                 and c.metric == metric and ((c.table == "II" and c.paper_k == 5) or (c.table == "III" and c.paper_k == 5)
                                             or c.table == "VI")]
        if pairs:
            rho = spearman(pairs)
            out[f"spearman_II_VI_{metric}"] = {"rho": rho, "rows": len(pairs),
                                               "at_least_0.8": bool(rho >= 0.8) if not math.isnan(rho) else None}
    for metric in ("O-AUROC", "P-AUROC"):
        a, b = _avg(cells, "VIII", "M6", metric, 5), _avg(cells, "VIII", "M9", metric, 5)
        if a and b and a.ours and b.ours:
            gp, go = b.paper[0] - a.paper[0], b.ours[0] - a.ours[0]
            paired = paired_gain(a.values, b.values, gp)
            go = paired.pop("common_seeds_gain", go)
            same_sign = (gp > 0) == (go > 0)
            out[f"m6_m9_gain_{metric}"] = {"paper": gp, "ours": go, "same_sign": same_sign,
                                           "same_size": bool(same_sign and 0.5 <= go / gp <= 2.0), **paired}
    return out


def paired_gain(before, after, paper_gain: float) -> dict:
    """The gain of ``after`` over ``before`` ((class, seed, value) runs of two rows).

    ``common_seeds_gain``: the class-averaged gain over the seeds on which both rows ran every
    class (each row's Average cell may average other seeds: one row a seed further on than the
    other would make their difference a seed effect). ``pairs`` / ``paired_mean`` / ``se``: over
    every (class, seed) both ran, the mean difference and its standard error (spread of the
    paired differences / sqrt(n); n >= 2), and whether the paper's gain lies within two of them.
    Table VIII's gains are ~1.3 points with a seed spread of ~0.5: a handful of runs cannot tell
    +0.4 from +1.3, and the figure says so instead of a bare factor."""
    a = {(c, sd): v for c, sd, v in before}
    b = {(c, sd): v for c, sd, v in after}
    both = sorted(set(a) & set(b))
    out: dict = {"pairs": len(both)}
    classes = {c for c, _ in a} | {c for c, _ in b}
    seeds = sorted({sd for _, sd in both})
    common = [sd for sd in seeds if all((c, sd) in a and (c, sd) in b for c in classes)]
    if common:
        out["common_seeds_gain"] = float(np.mean([np.mean([b[c, sd] - a[c, sd] for c in classes]) for sd in common]))
        out["common_seeds"] = len(common)
    if len(both) >= 2:
        d = np.array([b[k] - a[k] for k in both])
        se = float(d.std(ddof=1) / np.sqrt(len(d)))
        out.update(paired_mean=float(d.mean()), se=se, paper_within_2se=bool(abs(d.mean() - paper_gain) <= 2 * se))
    return out


def speed_rows(groups: dict, results: dict, tables: dict[str, Table]) -> list[dict]:
    """Per method run: samples/s after loading (mean over its runs), CPU s per sample, points per
    sample, and Table VII's FPS where the paper gives one."""
    paper_fps = {}
    for (t, label, _), g in groups.items():
        if label in tables[t].fps:
            paper_fps[g.method, g.overrides] = tables[t].fps[label]
    rows = []
    for key in dict.fromkeys((g.method, g.overrides, g.protocol, g.k) for g in groups.values()):
        ms = [m for (g, _, _), m in results.items() if (g.method, g.overrides, g.protocol, g.k) == key]
        if not ms:
            continue
        # a run whose scoring read features from the cache did not time the method: its speed is
        # taken from the runs that computed every feature, where there are such runs
        own = [m for m in ms if not (m.get("feature_cache") or {}).get("score_hits")]
        cached = len(ms) - len(own)
        ms = own or ms
        labels = sorted({f"{t} {lbl}" for (t, lbl, _), g in groups.items()
                         if (g.method, g.overrides, g.protocol, g.k) == key})
        rows.append({"key": key, "method": key[0] + (f" {key[1]}" if key[1] != "{}" else ""),
                     "protocol": key[2] + (f" k={key[3]}" if key[3] else ""), "rows": ", ".join(labels),
                     "fps": float(np.mean([m["fps"] for m in ms])),
                     "cpu_s": float(np.mean([m["cpu_seconds_per_sample"] for m in ms])),
                     "points": float(np.mean([m["points_per_sample"] for m in ms])),
                     "paper_fps": paper_fps.get((key[0], key[1])), "runs": len(ms),
                     "from_cache": not own, "cached_runs": cached})
    return rows


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):  # no /proc: keep platform's name
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{cpu}, {os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')}, "
            f"load average {os.getloadavg()[0]:.1f} at the end; no GPU (the paper: RTX 4090)")


# ---- output ----------------------------------------------------------------------------------------

def markdown(s: Settings, tables: dict[str, Table], groups: dict, cells: list[Cell], stats: dict, accept: dict,
             speed: list[dict], classes: list[str], missing: int) -> str:
    L = [f"# Open3D-AD's tables ({SEED_FILE}) beside ours", "",
         (f"Dataset {s.dataset} ({len(classes)} classes), seeds {', '.join(map(str, s.seeds))}, "
          f"open-set subset '{s.subset}'; ours k {', '.join(map(str, s.ks))} <-> the paper's "
          f"{', '.join(map(str, PAPER_KS[:len(s.ks)]))}. Cells: paper | ours (mean ± std over seeds, "
          f"percent); '{DASH}' = no such cell.")]
    if missing:
        L.append(f"{missing} runs are missing (--report-only): their rows are '{DASH}'.")
    L.append("")
    for t in s.tables:
        table = tables[t]
        rows = [r for r in table.rows]
        for pk in table.paper_ks:
            k = our_k(pk, s.ks)
            if pk is not None and k is None:
                continue
            head = f"## Table {t}: {table.title}" + ("" if pk is None else f", paper k = {pk} (ours k = {k})")
            L += [head, ""]
            sel = [c for c in cells if c.table == t and c.paper_k == pk]
            if table.per_class:
                metric = table.metrics[0]
                L += ["| class | " + " | ".join(f"{r.label} paper | ours ({r.method or DASH})" for r in rows) + " |",
                      "|---|" + "---|---|" * len(rows)]
                for cls in classes + ["Average"]:
                    line = [f"**{cls}**" if cls == "Average" else cls]
                    for r in rows:
                        c = next((c for c in sel if c.row == r.label and c.cls == cls and c.metric == metric), None)
                        line += [_f(*c.paper) if c and c.paper else DASH, _f(*c.ours) if c and c.ours else DASH]
                    L.append("| " + " | ".join(line) + " |")
            else:
                extra = ["FPS paper", "FPS ours", "CPU s/sample"] if table.fps else []
                L += ["| row | ours | " + " | ".join(f"{m} paper | ours" for m in table.metrics)
                      + "".join(f" | {e}" for e in extra) + " |",
                      "|---|---|" + "---|---|" * len(table.metrics) + "---|" * len(extra)]
                for r in rows:
                    line = [r.label, (r.method or DASH) + (f"; {r.note}" if r.note else "")]
                    for metric in table.metrics:
                        c = next((c for c in sel if c.row == r.label and c.metric == metric), None)
                        line += [_f(*c.paper) if c and c.paper else DASH, _f(*c.ours) if c and c.ours else DASH]
                    if extra:
                        g = groups.get((t, r.label, pk))
                        sp = next((x for x in speed if g and x["key"] == (g.method, g.overrides, g.protocol, g.k)),
                                  None)
                        line += [_f(table.fps.get(r.label)), f"{sp['fps']:.2f}" if sp else DASH,
                                 f"{sp['cpu_s']:.2f}" if sp else DASH]
                    L.append("| " + " | ".join(line) + " |")
            L.append("")
            for metric in table.metrics:
                st = stats.get((t, pk, metric))
                if st:
                    L.append(f"{metric}: Spearman over {st['rows']} methods' averages {_f(st['spearman'])}, "
                             f"mean |paper - ours| over {st['cells']} {st['mad_over']} cells {_f(st['mad'])}")
            L.append("")
    L += ["## Acceptance (issue 21)", ""]
    for key, v in accept.items():
        L.append(f"- {key}: " + ", ".join(f"{a} {_f(b) if isinstance(b, float) else b}" for a, b in v.items()))
    if not accept:
        L.append(f"- {DASH} (Tables II/III/VI/VIII rows not run)")
    L += ["", f"## Speed (test samples per second after loading; {hardware()})", "",
          "| method | protocol | rows | samples/s | CPU s/sample | points/sample | paper FPS | runs |",
          "|---|---|---|---|---|---|---|---|"]
    for r in speed:
        mark = " (features from the cache: not the method's speed)" if r.get("from_cache") else ""
        L.append(f"| {r['method']} | {r['protocol']} | {r['rows']} | {r['fps']:.2f}{mark} | {r['cpu_s']:.2f} | "
                 f"{r['points']:.0f} | {_f(r['paper_fps'])} | {r['runs']} |")
    if any(r.get("cached_runs") for r in speed):
        L += ["", ("Runs whose scoring read features from the feature cache are left out of the speed "
                   "where the same method has runs that computed them all.")]
    return "\n".join(L) + "\n"


def csv_text(cells: list[Cell]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["table", "paper_k", "our_k", "metric", "paper_row", "method", "class", "paper_mean", "paper_std",
                "ours_mean", "ours_std", "seeds"])

    def n(x):
        return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"

    for c in cells:
        p, o = c.paper or (None, None), c.ours or (None, None)
        w.writerow([c.table, c.paper_k or "", c.our_k or "", c.metric, c.row, c.method, c.cls,
                    n(p[0]), n(p[1]), n(o[0]), n(o[1]), c.seeds])
    return buf.getvalue()


def figure(cells: list[Cell], stats: dict, tables: Sequence[str]):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 4.2), squeeze=False)
    for ax, t in zip(axes[0], tables):
        sel = [c for c in cells if c.table == t and c.paper and c.ours and not math.isnan(c.ours[0])]
        for metric, marker in zip(dict.fromkeys(c.metric for c in cells if c.table == t), "os^D"):
            pts = [c for c in sel if c.metric == metric]
            small = [c for c in pts if c.cls != "Average"]
            big = [c for c in pts if c.cls == "Average"]
            if small:
                ax.scatter([c.paper[0] for c in small], [c.ours[0] for c in small], s=10, alpha=0.4, marker=marker)
            if big:
                ax.scatter([c.paper[0] for c in big], [c.ours[0] for c in big], s=45, marker=marker,
                           edgecolors="k", label=f"{metric} (averages)")
                for c in big:
                    ax.annotate(c.row if c.paper_k in (None, 5) else f"{c.row} k{c.paper_k}",
                                (c.paper[0], c.ours[0]), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.plot([0, 100], [0, 100], "k--", lw=0.8)
        ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="paper (%)", ylabel="ours (%)")
        rho = [f"{m}: ρ {_f(v['spearman'])}, MAD {_f(v['mad'])}" for (tt, pk, m), v in stats.items()
               if tt == t and pk in (None, 5)]
        ax.set_title(f"Table {t}\n" + "\n".join(rho[:2]), fontsize=8)
        if sel:
            ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


def run(s: Settings) -> dict:
    """Run what is missing, then write and return the report (markdown, cells, stats, acceptance)."""
    from scan2ad.detectors import data as D
    from scan2ad.io import atomic_open, write_json
    from scan2ad.outputs import check_apart, claim_output, read_marker
    from scan2ad.render import save_figure

    tables = paper_tables()
    have = D.class_names(D.load_dataset(s.dataset))
    bad = [c for c in s.classes if c not in have]
    if bad:
        raise _error(f"--classes: {bad} not in the dataset (its classes: {', '.join(have)})", s.dataset)
    classes = list(s.classes) or have
    groups = plan(s, tables)
    if s.report_only and read_marker(s.runs) is None:
        raise _error("--report-only: nothing was run into this folder yet (run without --report-only first)", s.runs)
    check_apart(s.runs, {"the dataset": s.dataset}, option="--runs")
    if s.cache_folder() is not None:
        check_apart(s.cache_folder(), {"the dataset": s.dataset}, option="--feature-cache")
    with claim_output(s.runs, "paper-tables", {"dataset": str(s.dataset.resolve())}, overwrite=s.overwrite,
                      staging="never") as claim:  # --runs checked apart from the dataset above
        s = dataclasses.replace(s, runs=claim.work)
        results, missing = run_all(s, groups, classes)
        cells = collect_cells(s, tables, groups, results, classes)
        stats = table_stats(cells)
        accept = acceptance(cells)
        speed = speed_rows(groups, results, tables)
        md = markdown(s, tables, groups, cells, stats, accept, speed, classes, missing)
        with atomic_open(claim.work / "paper_tables.md") as fh:
            fh.write(md)
        with atomic_open(claim.work / "paper_tables.csv", newline="") as fh:
            fh.write(csv_text(cells))
        from scan2ad.detectors.metrics import json_numbers
        write_json(claim.work / "paper_tables.json", json_numbers({
            "seed": SEED_FILE, "dataset": str(s.dataset.resolve()), "classes": classes, "seeds": list(s.seeds),
            "ks": list(s.ks), "subset": s.subset, "missing_runs": missing, "acceptance": accept,
            "stats": [{"table": t, "paper_k": pk, "metric": m, **v} for (t, pk, m), v in stats.items()],
            "speed": [{k: v for k, v in r.items() if k != "key"} for r in speed], "hardware": hardware()}))
        save_figure(figure(cells, stats, s.tables), claim.work / "paper_tables.png", dpi=120)
    return {"markdown": md, "cells": cells, "stats": stats, "acceptance": accept, "speed": speed,
            "missing": missing}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", help="an Open-Industry-layout dataset folder")
    ap.add_argument("--runs", required=True, help="run folder (resumable; the tables are written here)")
    ap.add_argument("--tables", default=",".join(TABLE_NAMES), help="comma-separated, of II,III,VI,VII,VIII")
    ap.add_argument("--k", type=int, nargs="+", default=list(PAPER_KS),
                    help="seen samples per known type, paired with the paper's 5 and 10 (default 5 10)")
    ap.add_argument("--seeds", default="1-3", help="e.g. 1-3 or 1,2,5 (default 1-3)")
    ap.add_argument("--classes", default="", help="comma-separated class folder names (default: all)")
    ap.add_argument("--methods", default="", help="comma-separated registry names (default: every row's)")
    ap.add_argument("--subset", choices=SUBSETS, default="overall",
                    help="open-set test subset compared with Tables II, III, VII, VIII (default overall)")
    ap.add_argument("--set", action="append", metavar="[METHOD:]KEY=VALUE",
                    help="detector setting for METHOD (or every method that has KEY); repeatable")
    ap.add_argument("--report-only", action="store_true", help="run nothing; report the finished runs")
    ap.add_argument("--overwrite", action="store_true", help="replace a RUNDIR made for another dataset")
    ap.add_argument("--feature-cache", metavar="DIR",
                    help="on-disk feature cache shared by the runs (default RUNDIR/feature-cache)")
    ap.add_argument("--no-feature-cache", action="store_true", help="compute every feature in every run")
    ap.add_argument("--workers", type=int, default=1,
                    help="evaluate runs in this many processes at once (each single-threaded with "
                         "OMP_NUM_THREADS=1; 2 on two cores; default 1)")
    ap.add_argument("--feature-cache-gb", type=float, default=0.0,
                    help="bound on the feature cache in GB, least recently used entries go first (default 0: none)")
    return ap


def main(argv: list[str] | None = None) -> int:
    from scan2ad.errors import InputError, Scan2adError

    args = parser().parse_args(argv)
    try:
        import torch

        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS") or 1)))
        report = run(settings_from_args(args))
    except Scan2adError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, InputError) else 1
    print(report["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
