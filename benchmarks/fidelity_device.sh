#!/usr/bin/env bash
# The part of issue 20's comparison (benchmarks/fidelity.py) that did not fit the shared 2-core CPU,
# as one script for the device machine (16 cores, one GPU, no network). NOT RUN YET: no GPU was
# lent in sessions 8-10; the commands below are the ones run on the CPU there, with the authors' sizes.
#
#   FID_R3D=DIR      M-3LAB/Real3D-AD checkout with the FIDELITY edits (fidelity.py's docstring;
#                    /tmp/fid2/patch_r3d.py of session 8 makes them, /tmp/fid4a/patch_m3dm.py of
#                    session 10 those of main_m3dm.py), carried under shared/ or `carry`
#   FID_SHIMS=DIR    the CPU replacements (timm/torchvision stubs, knn_cuda, pointnet2_ops); on a GPU
#                    only timm/torchvision are needed when the real packages are missing
#   FID_PY=PYTHON    a python with torch, faiss-cpu, open3d, scikit-learn, click, tqdm, matplotlib
#                    (the device machine cannot reach a package index: it must already be there)
#   FID_DATA=DIR     the demo dataset (scan2ad build demo --out DIR)
#   FID_CKPT=FILE    point_mae_small converted to the official layout ({'base_model': {'MAE_encoder.*'}})
#   FID_OI=DIR       (optional) hzzzzzhappy/open-industry dra_drev (95fdd24) with the FIDELITY edits of
#                    fidelity.py's docstring (session 9: /tmp/fid3b/patch_oi.py); runs step 3
#
# What it runs (results under $OUT/work, the tables on stdout):
#   1. patchcore-fpfh+raw and reg3d-ad: official scripts once over the whole test set, ours for seeds 1-3
#      (on the CPU each needs a 10,000-pick coreset of 190K coordinates per class: ~15 min at load 17;
#      session 10 ran them there at --memory_size 2000 on both sides instead);
#   2. patchcore-pointmae at the authors' 16384 groups of 128 (Real3D-AD's set_deep_feature_extractor),
#      ours with the same groups - a 16384-token attention is 6.4 GB per layer, GPU work;
#   2b. m3dm at the authors' 16384 groups (main_m3dm.py, 10 % coreset), ours with the same groups;
#   3. (FID_OI set) devnet-pm and dra-pm at the authors' 16384 groups (their DevNet_train/DRA_train +
#      *_eval_p.py, seeds 1-3; on the CPU they ran at 1024 groups), ours with the same groups.
#   4. (FID_PO3AD and FID_ME set) PO3AD official (yjnanan/PO3AD f62446a) against ours `po3ad`,
#      one-class, the whole test set of every class. FID_ME = MinkowskiEngine source (02fc608),
#      built here with nvcc first (`setup.py build_ext --inplace --force_cuda --blas=openblas`,
#      MAX_JOBS=16; needs the CUDA toolkit and openblas headers on the device: the step stops
#      with the build log's tail otherwise). FID_PO3AD = their checkout with the FIDELITY edits
#      (/tmp/fid4b/patch_po3ad.py of session 10: any class name; a template PLY without faces
#      keeps its own vertex normals; eval.py dumps per-sample scores to FID_DUMP).
#      Data: their Real3D loader reads `Real3D-AD-PCD/<cls>/test/*.pcd` (normal = 'good' in the
#      name), anomalies' points and labels from `gt/<name>.txt`, and trains on
#      `Real3D-AD-PLY/<cls>/*template*.ply` read as triangle MESHES whose vertices and
#      face-derived vertex normals are all it uses (|normal| moves the pseudo anomaly, so the
#      sign does not matter). Conversion: our Real3D-AD export as is, plus every training cloud
#      written as a PLY of its points with estimated normals (30-NN PCA) and no faces.
#      Their schedule is 1001 epochs x 100 repeats (GPU-hours); FID_PO3AD_EPOCHS (default 20)
#      trains both sides for the same number of clouds: theirs E epochs of 31 batches of 32,
#      ours steps = 31 E at batch 32.
# MinkowskiEngine on the CPU (session 10, --cpu_only, MAX_JOBS=1, nice 19 on the shared 2 cores):
# 13 of 13 sources in 84 min, import works (fidelity.py docstring). MC4AD needs the same build.
set -euo pipefail
: "${FID_R3D:?}" "${FID_SHIMS:?}" "${FID_PY:?}" "${FID_DATA:?}" "${FID_CKPT:?}"
OUT=${OUT:-/tmp/fid_device}
mkdir -p "$OUT/work"
nvidia-smi -L || echo "no GPU visible: the 16384-group runs will take hours"
"$FID_PY" -c "import torch, faiss, open3d, sklearn, click; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
if [ "${FID_MINKOWSKI:-0}" = 1 ]; then
  "$FID_PY" -c "import MinkowskiEngine" || { echo "MinkowskiEngine missing: MC4AD / PO3AD cannot run here"; exit 3; }
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-16} FID_PMAE_CKPT="$FID_CKPT" FID_PMAE_DIM=192 FID_PMAE_DEPTH=6 \
       FID_PMAE_FETCH=1,3,5 FID_CACHE="$OUT/cache"
common=(--work "$OUT/work" --seeds 1 2 3 --k 1 --known Bump)
for m in patchcore-fpfh+raw reg3d-ad; do
  FID_PMAE_GROUPS=1024 .venv/bin/python -P benchmarks/fidelity.py "$FID_DATA" "${common[@]}" --methods "$m" \
    --official "$m=$FID_R3D" --official-python "$m=$FID_PY" --official-pythonpath "$m=$FID_SHIMS"
done
FID_PMAE_GROUPS=16384 .venv/bin/python -P benchmarks/fidelity.py "$FID_DATA" "${common[@]}" \
  --work "$OUT/work16k" --methods patchcore-pointmae --ours 'patchcore-pointmae={"groups": 16384, "feature_points": 0, "layers": [1, 3, 5]}' \
  --official "patchcore-pointmae=$FID_R3D" --official-python "patchcore-pointmae=$FID_PY" \
  --official-pythonpath "patchcore-pointmae=$FID_SHIMS"
FID_PMAE_GROUPS=16384 .venv/bin/python -P benchmarks/fidelity.py "$FID_DATA" "${common[@]}" \
  --work "$OUT/work16k" --methods m3dm --ours-once m3dm --ours 'm3dm={"groups": 16384, "feature_points": 0}' \
  --official "m3dm=$FID_R3D" --official-python "m3dm=$FID_PY" --official-pythonpath "m3dm=$FID_SHIMS"
if [ -n "${FID_OI:-}" ]; then
  for m in devnet-pm dra-pm; do
    FID_GROUPS=16384 FID_TRANS_DIM=192 FID_DEPTH=6 FID_HEADS=6 FID_FETCH=1,3,5 FID_IN_C=576 \
      .venv/bin/python -P benchmarks/fidelity.py "$FID_DATA" "${common[@]}" --work "$OUT/work16k" --methods "$m" \
      --ours "$m={\"groups\": 16384, \"feature_points\": 0}" \
      --official "$m=$FID_OI" --official-python "$m=$FID_PY" --official-pythonpath "$m=$FID_SHIMS"
  done
fi
if [ -n "${FID_PO3AD:-}" ] && [ -n "${FID_ME:-}" ]; then
  E=${FID_PO3AD_EPOCHS:-20}
  # --inplace copies the module into MinkowskiEngineBackend/, which the source tree lacks
  mkdir -p "$FID_ME/MinkowskiEngineBackend"
  ( cd "$FID_ME" && MAX_JOBS=16 "$FID_PY" setup.py build_ext --inplace --force_cuda --blas=openblas ) \
    > "$OUT/me_build.log" 2>&1 || { tail -40 "$OUT/me_build.log"; echo "MinkowskiEngine did not build: PO3AD not run"; exit 3; }
  R3D="$FID_PO3AD/datasets/Real3D"
  rm -rf "$R3D/Real3D-AD-PCD" "$R3D/Real3D-AD-PLY"
  .venv/bin/python -P - "$FID_DATA" "$R3D" <<'PY'
import sys
from pathlib import Path
import open3d as o3d
from scan2ad.datasets.export import export_dataset
from scan2ad.datasets.samples import load_sample
from scan2ad.detectors import data as D
from scan2ad.detectors.features.geometry import estimate_normals
data, r3d = Path(sys.argv[1]), Path(sys.argv[2])
samples = D.load_dataset(data, None)
export_dataset(samples, r3d / "Real3D-AD-PCD", "real3d-ad", source=data)
for cls in D.class_names(samples):
    train = [s for s in samples if s.cls == cls and s.split == "train"]
    (r3d / "Real3D-AD-PLY" / cls).mkdir(parents=True, exist_ok=True)
    for n, s in enumerate(sorted(train, key=lambda s: s.relpath), 1):
        pts = load_sample(s).points
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
        pcd.normals = o3d.utility.Vector3dVector(estimate_normals(pts, 30))
        o3d.io.write_point_cloud(str(r3d / "Real3D-AD-PLY" / cls / f"{n}_template.ply"), pcd)
PY
  mkdir -p "$OUT/po3ad"
  for cls in $(ls "$R3D/Real3D-AD-PLY"); do
    ( cd "$FID_PO3AD" && PYTHONPATH="$FID_ME" FID_ANY_CLASS=1 "$FID_PY" train.py --dataset Real3D --category "$cls" \
        --epochs "$E" --num_works 8 --logpath "$OUT/po3ad/log_$cls/" > "$OUT/po3ad/$cls.train.log" 2>&1 &&
      PYTHONPATH="$FID_ME" FID_ANY_CLASS=1 FID_DUMP="$OUT/po3ad/$cls.npz" "$FID_PY" eval.py --dataset Real3D \
        --category "$cls" --logpath "$OUT/po3ad/log_$cls/" --checkpoint_name "$(printf '%09d' $((E - 1))).pth" \
        > "$OUT/po3ad/$cls.eval.log" 2>&1 ) || { tail -20 "$OUT/po3ad/$cls".*.log; exit 4; }
    grep "object AUC-ROC" "$OUT/po3ad/$cls.eval.log"
  done
  .venv/bin/python -P - "$FID_DATA" "$R3D/Real3D-AD-PCD" "$OUT/po3ad" "$E" <<'PY'
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("fidelity", "benchmarks/fidelity.py")
F = importlib.util.module_from_spec(spec); sys.modules["fidelity"] = F; spec.loader.exec_module(F)
from scan2ad.detectors import data as D
data, export, out, E = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
samples = D.load_dataset(data, None)
over = {"steps": 31 * E, "batch_size": 32}
rows, pairs = [], []
for cls in D.class_names(samples):
    theirs = F.load_official_dump(out / f"{cls}.npz", export)
    ours = F.run_ours_cached(out / "ours", "po3ad", data, samples, cls, ("Bump",), 1, 1, over, whole=True)
    rows.append((cls, 1, F.compare(ours, theirs), None))
    pairs.append((ours, theirs))
F.print_table(f"po3ad ({E} epochs)", rows)
F.print_se("po3ad", pairs, 500)
PY
fi
