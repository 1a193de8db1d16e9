"""Careless-user survey of the stage commands (issue 22): ~117 bad inputs and faults, each run in
a fresh ``python -P -m scan2ad.cli`` process, classified automatically as ERROR (non-zero exit,
no traceback), CRASH ("unexpected" exception, traceback or signal), TIMEOUT/HANG (killed after
120 s: a huge request run without asking), DESTROYED (the output the case protects changed) or
EXIT0 (exit 0: judge the printed result). Whether an ERROR names the real problem is read from
the printed message. ``tests/robustness/test_stages.py`` asserts the important rows.

    .venv/bin/python -P tests/robustness/survey_stages.py [WORKDIR] [SUBSTRING ...]

Needs a few minutes on one core
WORKDIR (default: a new temporary folder) keeps the fixtures.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scan2ad.acquisition.rig import RIGS_DIR

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="scan2ad-survey-"))
W = ROOT / "cases"
FX = ROOT / "fixtures"
PY = sys.executable
ONLY = sys.argv[2:]
ENV = dict(os.environ, OMP_NUM_THREADS="1", SCAN2AD_NO_PROGRESS="1")

def cli(*args, cwd=None, timeout=300):
    t=time.time()
    r = subprocess.run([PY, "-P", "-m", "scan2ad.cli", *map(str, args)], check=False, capture_output=True, text=True, env=ENV, cwd=cwd, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr), time.time()-t

def tree_hash(p):
    p = Path(p)
    if p.is_file():
        return hashlib.sha256(p.read_bytes()).hexdigest()
    if not p.exists():
        return None
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        h.update(str(f.relative_to(p)).encode())
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()

def fixtures():
    FX.mkdir(parents=True, exist_ok=True)
    if not (FX/"s4"/"view_003"/"view.json").exists():
        cli("capture","--rig","virtual_small","--part","heavy_washer","--views","4","--out",FX/"s4","--no-decode")
    if not (FX/"r4"/"part.ply").exists():
        cli("reconstruct",FX/"s4","--out",FX/"r4","--no-mesh")
    if not (FX/"c1"/"labels.npy").exists():
        cli("carve","part:heavy_washer","--defect","Bump","--out",FX/"c1","--points","3000","--no-review")
    if not (FX/"hw.ply").exists():
        cli("parts","export","heavy_washer","--out",FX/"hw.ply")
    if not (FX/"boards"/"cam0").exists():
        cli("calibrate","virtual-images","--rig","virtual_small","--out",FX/"boards","--views","8","--angles","0,30,60,90,120,150,180")
    if not (FX/"cal.json").exists():
        cli("calibrate","all","--images",FX/"boards","--board","chessboard_11x8_6mm.toml","--out",FX/"cal.json","--no-report")
    if not (FX/"calcams.json").exists():
        cli("calibrate","cameras","--images",FX/"boards","--board","chessboard_11x8_6mm.toml","--out",FX/"calcams.json","--no-report")

def write_xyz(p, pts, labels=None):
    pts = np.asarray(pts, float)
    with open(p, "w") as f:
        f.writelines(" ".join(repr(float(v)) for v in q) + (f" {labels[i]}" if labels is not None else "") + "\n" for i, q in enumerate(pts))
    return p

CASES = []
def case(cmd, name):
    def deco(fn):
        CASES.append((cmd, name, fn))
        return fn
    return deco

rng = np.random.default_rng(0)
def cloud(n=2000):
    u = rng.normal(size=(n,3))
    return 20*u/np.linalg.norm(u,axis=1,keepdims=True)

# ---------------- capture
@case("capture","views 0")
def _(d):
    return ["capture","--rig","virtual_small","--part","heavy_washer","--views","0","--out",d/"o"], None
@case("capture","views -3")
def _(d):
    return ["capture","--rig","virtual_small","--part","heavy_washer","--views","-3","--out",d/"o"], None
@case("capture","views 100000 (huge)")
def _(d):
    return ["capture","--rig","virtual_small","--part","heavy_washer","--views","100000","--out",d/"o"], "HUGE"
@case("capture","seed -1")
def _(d):
    return ["capture","--rig","virtual_small","--part","heavy_washer","--views","1","--seed","-1","--out",d/"o","--no-decode"], None
@case("capture","part-seed -1")
def _(d):
    return ["capture","--rig","virtual_small","--part","heavy_washer","--views","1","--part-seed","-1","--out",d/"o","--no-decode"], None
@case("capture","part missing mesh")
def _(d):
    return ["capture","--rig","virtual_small","--part",d/"nope.ply","--views","1","--out",d/"o"], None
@case("capture","part garbage mesh")
def _(d):
    (d/"g.stl").write_bytes(os.urandom(300))
    return ["capture","--rig","virtual_small","--part",d/"g.stl","--views","1","--out",d/"o"], None
@case("capture","rig unknown backend")
def _(d):
    t = (RIGS_DIR / "virtual_small.toml").read_text().replace('backend = "virtual"\nresolution = [400', 'backend = "virtaul"\nresolution = [400', 1)
    (d/"r.toml").write_text(t)
    return ["capture","--rig",d/"r.toml","--part","heavy_washer","--views","1","--out",d/"o"], "BACKEND"
@case("capture","rig resolution negative")
def _(d):
    t = (RIGS_DIR / "virtual_small.toml").read_text().replace('resolution = [400, 320]', 'resolution = [-400, 320]', 1)
    (d/"r.toml").write_text(t)
    return ["capture","--rig",d/"r.toml","--part","heavy_washer","--views","1","--out",d/"o"], None
@case("capture","rig noise nan")
def _(d):
    t = (RIGS_DIR / "virtual_small.toml").read_text().replace('noise_sigma = 1.5', 'noise_sigma = nan', 1)
    (d/"r.toml").write_text(t)
    return ["capture","--rig",d/"r.toml","--part","heavy_washer","--views","1","--out",d/"o"], None
@case("capture","rig steps 0")
def _(d):
    t = (RIGS_DIR / "virtual_small.toml").read_text().replace('steps = 12', 'steps = 0', 1)
    (d/"r.toml").write_text(t)
    return ["capture","--rig",d/"r.toml","--part","heavy_washer","--out",d/"o"], None
@case("capture","out is a file")
def _(d):
    (d/"f").write_text("keep")
    return ["capture","--rig","virtual_small","--part","heavy_washer","--views","1","--out",d/"f"], d/"f"
@case("capture","out foreign non-empty folder --overwrite")
def _(d):
    (d/"o").mkdir()
    (d/"o"/"mine.txt").write_text("keep")
    return ["capture","--rig","virtual_small","--part","heavy_washer","--views","1","--out",d/"o","--overwrite"], d/"o"
@case("capture","out unwritable (read-only fs)")
def _(d):
    return ["capture","--rig","virtual_small","--part","heavy_washer","--views","1","--out","/proc/i22st_out"], None
@case("capture","calibration missing")
def _(d):
    return ["capture","--rig","virtual_small","--part","heavy_washer","--views","1","--calibration",d/"nope.json","--out",d/"o"], None
@case("capture","calibration garbage")
def _(d):
    (d/"c.json").write_text("{garbage")
    return ["capture","--rig","virtual_small","--part","heavy_washer","--views","1","--calibration",d/"c.json","--out",d/"o","--no-decode"], None
@case("capture","other session, different part")
def _(d):
    shutil.copytree(FX/"s4", d/"s")
    return ["capture","--rig","virtual_small","--part","split_pin","--views","4","--out",d/"s"], d/"s"

# ---------------- calibrate
B = ["--board","chessboard_11x8_6mm.toml"]
@case("calibrate","images missing")
def _(d):
    return ["calibrate","all","--images",d/"nope",*B,"--out",d/"c.json"], None
@case("calibrate","images empty")
def _(d):
    (d/"e").mkdir()
    return ["calibrate","all","--images",d/"e",*B,"--out",d/"c.json"], None
@case("calibrate","images garbage pngs")
def _(d):
    for c in ("cam0","cam1"):
        (d/"g"/c).mkdir(parents=True)
        for i in range(5):
            (d/"g"/c/f"{i}.png").write_bytes(os.urandom(100))
    return ["calibrate","cameras","--images",d/"g",*B,"--out",d/"c.json"], None
@case("calibrate","board garbage")
def _(d):
    (d/"b.toml").write_text("rows = 'x'\n")
    return ["calibrate","all","--images",FX/"boards","--board",d/"b.toml","--out",d/"c.json"], None
@case("calibrate","out is a directory")
def _(d):
    (d/"o").mkdir()
    return ["calibrate","cameras","--images",FX/"boards",*B,"--out",d/"o","--no-report"], d/"o"
@case("calibrate","out unwritable")
def _(d):
    return ["calibrate","cameras","--images",FX/"boards",*B,"--out","/proc/i22st.json","--no-report"], None
@case("calibrate","outlier-factor nan")
def _(d):
    return ["calibrate","cameras","--images",FX/"boards",*B,"--out",d/"c.json","--outlier-factor","nan","--no-report"], None
@case("calibrate","outlier-factor -1")
def _(d):
    return ["calibrate","cameras","--images",FX/"boards",*B,"--out",d/"c.json","--outlier-factor","-1","--no-report"], None
@case("calibrate","min-views 0")
def _(d):
    return ["calibrate","cameras","--images",FX/"boards",*B,"--out",d/"c.json","--min-views","0","--no-report"], None
@case("calibrate","min-views 1000")
def _(d):
    return ["calibrate","cameras","--images",FX/"boards",*B,"--out",d/"c.json","--min-views","1000","--no-report"], None
@case("calibrate","calibration garbage")
def _(d):
    (d/"x.json").write_text("[1,2]")
    return ["calibrate","turntable","--images",FX/"boards",*B,"--out",d/"c.json","--calibration",d/"x.json","--no-report"], None
@case("calibrate","overwrite existing good calibration (foreign file)")
def _(d):
    (d/"c.json").write_text("precious")
    return ["calibrate","cameras","--images",FX/"boards",*B,"--out",d/"c.json","--no-report"], d/"c.json"
@case("calibrate","virtual-images views 0")
def _(d):
    return ["calibrate","virtual-images","--rig","virtual_small","--out",d/"o","--views","0","--angles","0,90"], None
@case("calibrate","virtual-images views -2")
def _(d):
    return ["calibrate","virtual-images","--rig","virtual_small","--out",d/"o","--views","-2"], None
@case("calibrate","virtual-images angles nan")
def _(d):
    return ["calibrate","virtual-images","--rig","virtual_small","--out",d/"o","--views","1","--angles","nan"], None
@case("calibrate","virtual-images workers 0")
def _(d):
    return ["calibrate","virtual-images","--rig","virtual_small","--out",d/"o","--views","1","--angles","0","--workers","0"], None
@case("calibrate","virtual-images seed -1")
def _(d):
    return ["calibrate","virtual-images","--rig","virtual_small","--out",d/"o","--views","1","--angles","0","--seed","-1"], None

# ---------------- register
def reg(d, a, b, *extra): return ["register", a, b, "--out", d/"t.json", *extra]
@case("register","3 points")
def _(d):
    write_xyz(d/"a.xyz", cloud(3))
    return reg(d, d/"a.xyz", d/"a.xyz"), None
@case("register","1 point")
def _(d):
    write_xyz(d/"a.xyz", cloud(1))
    return reg(d, d/"a.xyz", d/"a.xyz"), None
@case("register","collinear points")
def _(d):
    t = np.linspace(0,10,200)[:,None]*np.array([[1,2,3]])
    write_xyz(d/"a.xyz", t)
    return reg(d, d/"a.xyz", d/"a.xyz"), None
@case("register","identical points (zero spacing)")
def _(d):
    write_xyz(d/"a.xyz", np.ones((100,3)))
    return reg(d, d/"a.xyz", d/"a.xyz"), None
@case("register","duplicate-heavy cloud (inf fitness?)")
def _(d):
    c = np.repeat(cloud(50), 20, axis=0)
    write_xyz(d/"a.xyz", c)
    write_xyz(d/"b.xyz", cloud(500))
    return reg(d, d/"a.xyz", d/"b.xyz"), None
@case("register","planar points")
def _(d):
    c = cloud(500)
    c[:,2]=0
    write_xyz(d/"a.xyz", c)
    return reg(d, d/"a.xyz", d/"a.xyz"), None
@case("register","overlap 0")
def _(d):
    write_xyz(d/"a.xyz", cloud(500))
    return reg(d, d/"a.xyz", d/"a.xyz", "--overlap","0"), None
@case("register","overlap nan")
def _(d):
    write_xyz(d/"a.xyz", cloud(500))
    return reg(d, d/"a.xyz", d/"a.xyz", "--overlap","nan"), None
@case("register","overlap 5")
def _(d):
    write_xyz(d/"a.xyz", cloud(500))
    return reg(d, d/"a.xyz", d/"a.xyz", "--overlap","5"), None
@case("register","time-budget -1")
def _(d):
    write_xyz(d/"a.xyz", cloud(500))
    return reg(d, d/"a.xyz", d/"a.xyz", "--time-budget","-1"), None
@case("register","time-budget inf")
def _(d):
    write_xyz(d/"a.xyz", cloud(500))
    return reg(d, d/"a.xyz", d/"a.xyz", "--time-budget","inf", "--init","none"), None
@case("register","huge coordinates 1e30")
def _(d):
    write_xyz(d/"a.xyz", cloud(500)*1e30)
    return reg(d, d/"a.xyz", d/"a.xyz"), None
@case("register","out is a directory")
def _(d):
    write_xyz(d/"a.xyz", cloud(500))
    (d/"o").mkdir()
    return ["register", d/"a.xyz", d/"a.xyz", "--out", d/"o", "--init","none"], d/"o"
@case("register","out unwritable")
def _(d):
    write_xyz(d/"a.xyz", cloud(500))
    return ["register", d/"a.xyz", d/"a.xyz", "--out", "/proc/x.json", "--init","none"], None
@case("register","source missing")
def _(d):
    return reg(d, d/"no.ply", d/"no.ply"), None

# ---------------- reconstruct
@case("reconstruct","session missing")
def _(d):
    return ["reconstruct", d/"nope", "--out", d/"r"], None
@case("reconstruct","cameras-only calibration")
def _(d):
    return ["reconstruct", FX/"s4", "--out", d/"r", "--calibration", FX/"calcams.json", "--no-mesh"], None
@case("reconstruct","zero baseline")
def _(d):
    c = json.loads((FX/"s4"/"truth"/"calibration.json").read_text())
    c["stereo"]["T"] = [0,0,0]
    (d/"c.json").write_text(json.dumps(c))
    return ["reconstruct", FX/"s4", "--out", d/"r", "--calibration", d/"c.json", "--no-mesh"], None
@case("reconstruct","NaN in K")
def _(d):
    c = json.loads((FX/"s4"/"truth"/"calibration.json").read_text())
    c["cameras"]["cam0"]["K"][0][0] = float("nan")
    (d/"c.json").write_text(json.dumps(c).replace("NaN","NaN"))
    return ["reconstruct", FX/"s4", "--out", d/"r", "--calibration", d/"c.json", "--no-mesh"], None
@case("reconstruct","session missing 3 of 4 views")
def _(d):
    shutil.copytree(FX/"s4", d/"s")
    for i in (1,2,3):
        (d/"s"/f"view_{i:03d}"/"view.json").unlink()
    return ["reconstruct", d/"s", "--out", d/"r", "--no-mesh"], "MISSING"
@case("reconstruct","target-points 0")
def _(d):
    return ["reconstruct", FX/"s4", "--out", d/"r", "--target-points", "0", "--no-mesh"], None
@case("reconstruct","target-points -1")
def _(d):
    return ["reconstruct", FX/"s4", "--out", d/"r", "--target-points", "-1", "--no-mesh"], None
@case("reconstruct","config negative values")
def _(d):
    (d/"c.toml").write_text("min_view_points = -5\ntable_margin_mm = nan\n")
    return ["reconstruct", FX/"s4", "--out", d/"r", "--config", d/"c.toml", "--no-mesh"], None
@case("reconstruct","out is a file")
def _(d):
    (d/"f").write_text("keep")
    return ["reconstruct", FX/"s4", "--out", d/"f", "--no-mesh"], d/"f"
@case("reconstruct","out is another reconstruction")
def _(d):
    shutil.copytree(FX/"r4", d/"r")
    (d/"r"/"reconstruction.json").write_text((FX/"r4"/"reconstruction.json").read_text().replace('"views": 4','"views": 7'))
    return ["reconstruct", FX/"s4", "--out", d/"r", "--no-mesh", "--target-points", "5000"], d/"r"
@case("reconstruct","out foreign non-empty folder")
def _(d):
    (d/"o").mkdir()
    (d/"o"/"fused.ply").write_text("mine")
    return ["reconstruct", FX/"s4", "--out", d/"o", "--no-mesh"], d/"o"
@case("reconstruct","session.json garbage")
def _(d):
    (d/"s").mkdir()
    (d/"s"/"session.json").write_text("{")
    return ["reconstruct", d/"s", "--out", d/"r"], None

# ---------------- carve
C = ["carve","part:heavy_washer","--defect","Bump","--no-review"]
@case("carve","points -5")
def _(d):
    return [*C,"--out",d/"o","--points","-5"], None
@case("carve","points 0")
def _(d):
    return [*C,"--out",d/"o","--points","0"], None
@case("carve","depth 1000 no-ratio-check")
def _(d):
    return [*C,"--out",d/"o","--points","3000","--depth","1000","--no-ratio-check"], "INSIDEOUT"
@case("carve","radius 1e-9")
def _(d):
    return [*C,"--out",d/"o","--points","3000","--radius","1e-9","--no-ratio-check"], "ZERODEFECT"
@case("carve","radius nan")
def _(d):
    return [*C,"--out",d/"o","--points","3000","--radius","nan"], None
@case("carve","depth -1")
def _(d):
    return [*C,"--out",d/"o","--points","3000","--depth","-1"], None
@case("carve","noise-sigma -1")
def _(d):
    return [*C,"--out",d/"o","--points","3000","--noise-sigma","-1"], None
@case("carve","noise-sigma nan")
def _(d):
    return [*C,"--out",d/"o","--points","3000","--noise-sigma","nan"], None
@case("carve","ratio-range reversed")
def _(d):
    return [*C,"--out",d/"o","--points","3000","--ratio-range","0.5","0.1"], None
@case("carve","centre nan")
def _(d):
    return [*C,"--out",d/"o","--points","3000","--location","given","--centre","nan","nan","nan"], None
@case("carve","unknown defect")
def _(d):
    return ["carve","part:heavy_washer","--defect","Bmp","--out",d/"o","--no-review"], None
@case("carve","unknown part")
def _(d):
    return ["carve","part:nope","--defect","Bump","--out",d/"o","--no-review"], None
@case("carve","garbage mesh")
def _(d):
    (d/"g.ply").write_bytes(b"ply\n"+os.urandom(200))
    return ["carve",d/"g.ply","--defect","Bump","--out",d/"o","--no-review"], None
@case("carve","spec garbage")
def _(d):
    (d/"s.json").write_text('{"schema_version":1,"defects":[{"type":"Bump"}]}')
    return ["carve","part:heavy_washer","--spec",d/"s.json","--out",d/"o","--no-review"], None
@case("carve","out existing other sample")
def _(d):
    shutil.copytree(FX/"c1", d/"o")
    return [*C,"--out",d/"o","--points","3000","--seed","5"], d/"o"
@case("carve","out foreign non-empty folder")
def _(d):
    (d/"o").mkdir()
    (d/"o"/"cloud.ply").write_text("mine")
    (d/"o"/"notes.txt").write_text("mine")
    return [*C,"--out",d/"o","--points","3000"], d/"o"
@case("carve","Dent depth 15 through the part")
def _(d):
    return ["carve","part:heavy_washer","--defect","Dent","--no-review","--out",d/"o","--points","3000","--depth","15","--no-ratio-check"], None
@case("carve","seed -1")
def _(d):
    return [*C,"--out",d/"o","--points","3000","--seed","-1"], None

# ---------------- review
@case("review","cloud.ply garbage")
def _(d):
    (d/"s").mkdir()
    (d/"s"/"cloud.ply").write_text("garbage")
    return ["review", d/"s"], None
@case("review","labels wrong length")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    np.save(d/"s"/"labels.npy", np.zeros(7, np.uint8))
    return ["review", d/"s"], None
@case("review","labels 2/3")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    l=np.load(d/"s"/"labels.npy")
    l[:10]=3
    np.save(d/"s"/"labels.npy", l)
    return ["review", d/"s"], None
@case("review","labels.npy garbage")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    (d/"s"/"labels.npy").write_bytes(os.urandom(50))
    return ["review", d/"s"], None
@case("review","out is a directory")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    (d/"o").mkdir()
    return ["review", d/"s", "--out", d/"o"], d/"o"
@case("review","out not png")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    return ["review", d/"s", "--out", d/"o.txt"], None
@case("review","out unwritable")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    return ["review", d/"s", "--out", "/proc/x.png"], None
@case("review","out overwrites a foreign png")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    (d/"p.png").write_bytes(b"precious")
    return ["review", d/"s", "--out", d/"p.png"], d/"p.png"

# ---------------- label
@case("label","brush -1 screenshot")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    return ["label", d/"s", "--brush", "-1", "--screenshot", d/"x.png"], None
@case("label","brush nan screenshot")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    return ["label", d/"s", "--brush", "nan", "--screenshot", d/"x.png"], None
@case("label","labels wrong length")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    np.save(d/"l.npy", np.zeros(5))
    return ["label", d/"s", "--labels", d/"l.npy", "--screenshot", d/"x.png"], None
@case("label","labels garbage")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    (d/"l.npy").write_bytes(b"xx")
    return ["label", d/"s", "--labels", d/"l.npy", "--screenshot", d/"x.png"], None
@case("label","labels 0..5")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    n=len(np.load(d/"s"/"labels.npy"))
    np.save(d/"l.npy", np.arange(n)%5)
    return ["label", d/"s", "--labels", d/"l.npy", "--screenshot", d/"x.png"], None
@case("label","screenshot into a directory")
def _(d):
    shutil.copytree(FX/"c1", d/"s")
    (d/"o").mkdir()
    return ["label", d/"s", "--screenshot", d/"o"], d/"o"

# ---------------- pointcloud
@case("pointcloud","info ascii ply 0 vertices")
def _(d):
    (d/"z.ply").write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\nproperty float z\nend_header\n")
    return ["pointcloud","info",d/"z.ply"], "ZEROV"
@case("pointcloud","validate labels 1/2/3")
def _(d):
    write_xyz(d/"l.txt", cloud(10), [1,2,3,0,0,1,2,3,0,1])
    return ["pointcloud","validate",d/"l.txt"], "LABELS"
@case("pointcloud","info labels 1/2/3 (ply)")
def _(d):
    (d/"l.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nproperty uchar label\nend_header\n0 0 0 1\n1 0 0 2\n0 1 0 3\n")
    return ["pointcloud","info",d/"l.ply"], "LABELS"
@case("pointcloud","info labels -1")
def _(d):
    write_xyz(d/"l.txt", cloud(3), [-1,0,1])
    return ["pointcloud","info",d/"l.txt"], "LABELS"
@case("pointcloud","convert beyond float32 over good file")
def _(d):
    write_xyz(d/"big.xyz", cloud(10)*1e40)
    write_xyz(d/"good.xyz", cloud(10))
    subprocess.run([PY,"-P","-m","scan2ad.cli","pointcloud","convert",d/"good.xyz",d/"good.ply"],env=ENV,check=False, capture_output=True)
    return ["pointcloud","convert",d/"big.xyz",d/"good.ply","--overwrite"], d/"good.ply"
@case("pointcloud","convert to a directory")
def _(d):
    write_xyz(d/"a.xyz", cloud(10))
    (d/"o.ply").mkdir()
    return ["pointcloud","convert",d/"a.xyz",d/"o.ply"], d/"o.ply"
@case("pointcloud","convert unknown ext")
def _(d):
    write_xyz(d/"a.xyz", cloud(10))
    return ["pointcloud","convert",d/"a.xyz",d/"o.foo"], None
@case("pointcloud","convert unwritable")
def _(d):
    write_xyz(d/"a.xyz", cloud(10))
    return ["pointcloud","convert",d/"a.xyz","/proc/o.ply"], None
@case("pointcloud","convert src == dst")
def _(d):
    write_xyz(d/"a.xyz", cloud(10))
    return ["pointcloud","convert",d/"a.xyz",d/"a.xyz"], d/"a.xyz"
@case("pointcloud","info empty file")
def _(d):
    (d/"e.ply").write_bytes(b"")
    return ["pointcloud","info",d/"e.ply"], None
@case("pointcloud","info nan coords")
def _(d):
    (d/"n.xyz").write_text("nan 0 0\n1 2 3\n")
    return ["pointcloud","info",d/"n.xyz"], None
@case("pointcloud","info binary ply truncated")
def _(d):
    subprocess.run([PY,"-P","-m","scan2ad.cli","pointcloud","convert",FX/"r4"/"part.ply",d/"t.ply"],env=ENV,check=False, capture_output=True)
    b=(d/"t.ply").read_bytes()
    (d/"t.ply").write_bytes(b[:len(b)//2])
    return ["pointcloud","info",d/"t.ply"], None
@case("pointcloud","info pcd garbage header")
def _(d):
    (d/"g.pcd").write_text("# .PCD v0.7\nFIELDS x y z\nSIZE 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 1\nHEIGHT 1\nPOINTS 1\nDATA ascii\n1 2 3\n")
    return ["pointcloud","info",d/"g.pcd"], None
@case("pointcloud","info ply huge vertex count")
def _(d):
    (d/"h.ply").write_text("ply\nformat binary_little_endian 1.0\nelement vertex 99999999999999\nproperty float x\nproperty float y\nproperty float z\nend_header\n")
    return ["pointcloud","info",d/"h.ply"], None
@case("pointcloud","info ply negative vertex count")
def _(d):
    (d/"h.ply").write_text("ply\nformat ascii 1.0\nelement vertex -3\nproperty float x\nproperty float y\nproperty float z\nend_header\n1 2 3\n")
    return ["pointcloud","info",d/"h.ply"], None
@case("pointcloud","info npz labels 7")
def _(d):
    np.savez(d/"a.npz", points=cloud(5), labels=np.array([0,7,0,1,0]))
    return ["pointcloud","info",d/"a.npz"], "LABELS"

# ---------------- parts
@case("parts","export unknown")
def _(d):
    return ["parts","export","nope","--out",d/"x.ply"], None
@case("parts","export seed -1")
def _(d):
    return ["parts","export","heavy_washer","--seed","-1","--out",d/"x.ply"], None
@case("parts","export out dir")
def _(d):
    (d/"x.ply").mkdir()
    return ["parts","export","heavy_washer","--out",d/"x.ply"], d/"x.ply"
@case("parts","export out unwritable")
def _(d):
    return ["parts","export","heavy_washer","--out","/proc/x.ply"], None
@case("parts","export over foreign mesh")
def _(d):
    (d/"x.ply").write_text("precious")
    return ["parts","export","heavy_washer","--out",d/"x.ply"], d/"x.ply"
@case("parts","render seeds 0")
def _(d):
    return ["parts","render","--out",d/"x.png","--seeds","0"], None
@case("parts","render seeds -1")
def _(d):
    return ["parts","render","--out",d/"x.png","--seeds","-1"], None
@case("parts","render seeds 100000")
def _(d):
    return ["parts","render","--out",d/"x.png","--seeds","100000"], "HUGE"

def main():
    fixtures()
    res = []
    for cmd, name, fn in CASES:
        if ONLY and not any(o in f"{cmd}: {name}" for o in ONLY):
            continue
        d = W / f"{cmd}_{abs(hash(name))%10**8}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        argv, watch = fn(d)
        prot = watch if isinstance(watch, Path) else None
        before = tree_hash(prot) if prot else None
        try:
            rc, out, dt = cli(*argv, timeout=120)
        except subprocess.TimeoutExpired:
            rc, out, dt = -999, "TIMEOUT", 120
        after = tree_hash(prot) if prot else None
        if rc < 0 and rc != -999 or "unexpected" in out or "Traceback" in out:
            cls = "CRASH"
        elif rc == -999:
            cls = "TIMEOUT/HANG"
        elif prot and before != after:
            cls = "DESTROYED"
        elif rc == 0:
            cls = "EXIT0"
        else:
            cls = "ERROR"
        last = [l for l in out.strip().splitlines() if l.strip()][-3:]
        res.append({"cmd": cmd, "name": name, "rc": rc, "cls": cls, "tag": watch if isinstance(watch, str) else "",
                    "dt": round(dt, 1), "msg": " | ".join(last)[-400:]})
        print(f"[{cls:9}] rc={rc:4} {cmd}: {name} ({dt:.1f}s)\n      {res[-1]['msg']}", flush=True)
    (ROOT / "survey.json").write_text(json.dumps(res, indent=1))
    from collections import Counter
    print("\noutcomes:", dict(Counter(r["cls"] for r in res)), f"({len(res)} cases; details in {ROOT / 'survey.json'})")


if __name__ == "__main__":
    main()
