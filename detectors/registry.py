"""The explicit registry: detector name -> (class, default config overrides).

Classes are named by import path and imported on first use, so listing the registry imports
no torch. Variants of a method (ablations, subsampling strategies) are entries of their own
with the overrides that define them. Every entry is exercised by a test.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from scan2ad.errors import InputError


@dataclasses.dataclass(frozen=True)
class Entry:
    target: str                     # "module:Class"
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    summary: str = ""


REGISTRY: dict[str, Entry] = {
    "btf-raw": Entry("scan2ad.detectors.methods.btf.detector:BTF",
                     {"features": "raw", "register": True, "bank_size": 0}, "BTF, raw coordinates after registration to a template"),
    "btf-fpfh": Entry("scan2ad.detectors.methods.btf.detector:BTF", {"features": "fpfh"},
                      "BTF, per-point FPFH"),
    "patchcore-fpfh": Entry("scan2ad.detectors.methods.patchcore.detector:PatchCore",
                            {"features": "fpfh"}, "PatchCore on pooled FPFH patches, approximate greedy coreset"),
    "patchcore-fpfh-greedy": Entry("scan2ad.detectors.methods.patchcore.detector:PatchCore",
                                   {"features": "fpfh", "coreset": "greedy"},
                                   "PatchCore on pooled FPFH patches, exact greedy coreset"),
    "patchcore-fpfh+raw": Entry("scan2ad.detectors.methods.patchcore.detector:PatchCore",
                                {"features": "fpfh+raw", "register": True},
                                "PatchCore on FPFH + registered coordinates"),
    "open3d-ad": Entry("scan2ad.detectors.methods.open3d_ad.detector:Open3DAD", {}, "Open3D-AD: Norm-AS, multi-FPFH, dual supports with CDS (= M1 = M9)"),
    "open3d-ad-m1": Entry("scan2ad.detectors.methods.open3d_ad.detector:Open3DAD", {"subsampling": "cds"}, "Open3D-AD M1: Correspondence Distributions Subsampling"),
    "open3d-ad-m2": Entry("scan2ad.detectors.methods.open3d_ad.detector:Open3DAD", {"subsampling": "identity"}, "Open3D-AD M2: identity sampling"),
    "open3d-ad-m3": Entry("scan2ad.detectors.methods.open3d_ad.detector:Open3DAD", {"subsampling": "random"}, "Open3D-AD M3: random sampling"),
    "open3d-ad-m4": Entry("scan2ad.detectors.methods.open3d_ad.detector:Open3DAD", {"subsampling": "greedy"}, "Open3D-AD M4: greedy coreset"),
    "open3d-ad-m5": Entry("scan2ad.detectors.methods.open3d_ad.detector:Open3DAD", {"subsampling": "approx_greedy"}, "Open3D-AD M5: approximate greedy coreset"),
    "open3d-ad-m6": Entry("scan2ad.detectors.methods.open3d_ad.detector:Open3DAD", {"anomalous_support": False}, "Open3D-AD M6: normal-only baseline"),
    "open3d-ad-m7": Entry("scan2ad.detectors.methods.open3d_ad.detector:Open3DAD", {"subsampling": "approx_greedy", "simulated_anomalies": False,
                                   "normal_support_factor": 2.0},
                          "Open3D-AD M7: + anomalous support (seen) and expanded normal support"),
    "open3d-ad-m8": Entry("scan2ad.detectors.methods.open3d_ad.detector:Open3DAD", {"subsampling": "approx_greedy", "normal_support_factor": 2.0},
                          "Open3D-AD M8: + simulated anomalies"),
    "open3d-ad-m9": Entry("scan2ad.detectors.methods.open3d_ad.detector:Open3DAD", {"subsampling": "cds"}, "Open3D-AD M9: + correspondence subsampling (full)"),
    "hqc": Entry("scan2ad.detectors.methods.hqc.detector:HQC",
                 {"fast_overrides": {"feature_points": 4096, "groups": 512, "group_size": 32}},
                 "Hierarchical Quality Control: a coarse patchcore-fpfh (FPFH of 4096 points) screens "
                 "(b = 0.25), open3d-ad decides"),
    # offset prediction (004_be09d63770e75756: MC4AD, its ablations, and PO3AD it builds on)
    "mc4ad": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {}, "MC4AD (V_O): DA-Gen, CFP-Net with MC-Skip, 6-channel forces, combined loss"),
    "mc4ad-v1": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {"use_sym": False}, "MC4AD V1: without the symmetry loss"),
    "mc4ad-v2": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {"use_dir": False}, "MC4AD V2: without the direction loss"),
    "mc4ad-v3": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {"use_dist": False}, "MC4AD V3: without the distance loss"),
    "mc4ad-v4": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {"synthesis": "norm-as"}, "MC4AD V4: Norm-AS instead of DA-Gen"),
    "mc4ad-vp": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {"depth": 2, "encoder_layers": 1, "lr": 0.0015},
                      "MC4AD V_P: pruned (1 encoder conv, 2 bottleneck and 2 decoder levels)"),
    "mc4ad-out3": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {"out_channels": 3}, "MC4AD Out = 3: offsets predicted directly"),
    "mc4ad-no-mcskip": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {"mc_skip": False}, "MC4AD w/o MC-Skip: plain additive skips"),
    "mc4ad-layer2": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {"depth": 1}, "MC4AD Layer_2"),
    "mc4ad-layer4": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {"depth": 2}, "MC4AD Layer_4"),
    "mc4ad-layer6": Entry("scan2ad.detectors.methods.mc4ad.detector:MC4AD", {"depth": 3}, "MC4AD Layer_6"),
    "mc4ad-hqc": Entry("scan2ad.detectors.methods.hqc.detector:HQC", {"fast": "mc4ad-vp", "full": "mc4ad"},
                       "MC4AD with Hierarchical Quality Control: V_P screens (b = 0.25), V_O decides"),
    "po3ad": Entry("scan2ad.detectors.methods.mc4ad.detector:PO3AD", {},
                   "PO3AD: Norm-AS, sparse U-Net offset regression, L1 + direction loss"),
    "gmanet": Entry("scan2ad.detectors.methods.gmanet.detector:GMANet", {},
                    "GMANet: SPCG synthesis, expert/apprentice PointNet++, spatial discrepancy optimisation, "
                    "per-location calibrated scores"),
    "gmanet-no-spcg": Entry("scan2ad.detectors.methods.gmanet.detector:GMANet", {"synthesis": "norm-as"},
                            "GMANet w/o SPCG (Norm-AS synthesis instead)"),
    "gmanet-no-sdo": Entry("scan2ad.detectors.methods.gmanet.detector:GMANet", {"use_sdo": False},
                           "GMANet w/o SDO (only the normal discrepancy is minimised)"),
    "gmanet-raw": Entry("scan2ad.detectors.methods.gmanet.detector:GMANet", {"calibration": "none"},
                        "GMANet scored by Eq. 5's d as it is (w/o the per-location calibration)"),
    # IMRNet (002_28a1af360a0c09b5) and its sampler ablation
    "imrnet": Entry("scan2ad.detectors.methods.imrnet.detector:IMRNet", {},
                    "IMRNet: GPS sampling, iterative mask reconstruction, DFC, template regularisation"),
    "imrnet-fps": Entry("scan2ad.detectors.methods.imrnet.detector:IMRNet", {"sampler": "fps"}, "IMRNet with FPS instead of GPS"),
    "imrnet-random": Entry("scan2ad.detectors.methods.imrnet.detector:IMRNet", {"sampler": "random"}, "IMRNet with random sampling instead of GPS"),
    "imrnet-voxel": Entry("scan2ad.detectors.methods.imrnet.detector:IMRNet", {"sampler": "voxel"}, "IMRNet with voxel sampling instead of GPS"),
    # SCA (001_1a0643aab4434808): single-pass discriminator on frozen Point-MAE tokens, and its ablations
    "sca": Entry("scan2ad.detectors.methods.sca.detector:SCA", {},
                 "SCA: Point-MAE tokens, Spatial Context Aggregation, Feature Adaptor, selective AFG, attention discriminator"),
    "sca-no-sca": Entry("scan2ad.detectors.methods.sca.detector:SCA", {"use_sca": False}, "SCA without Spatial Context Aggregation"),
    "sca-no-fa": Entry("scan2ad.detectors.methods.sca.detector:SCA", {"adaptor": False}, "SCA without the Feature Adaptor"),
    "sca-no-global": Entry("scan2ad.detectors.methods.sca.detector:SCA", {"use_global": False},
                           "SCA without global inter-prototype propagation"),
    "sca-no-snap": Entry("scan2ad.detectors.methods.sca.detector:SCA", {"use_snap": False}, "SCA without prototype snapping"),
    "sca-pure-geometry": Entry("scan2ad.detectors.methods.sca.detector:SCA", {"affinity": "geometry"},
                               "SCA fusing only geometric affinities (W^g)"),
    "sca-pure-feature": Entry("scan2ad.detectors.methods.sca.detector:SCA", {"affinity": "feature"},
                              "SCA fusing only feature affinities (W^z)"),
    "sca-simplenet-generator": Entry("scan2ad.detectors.methods.sca.detector:SCA", {"corrupt_p": 1.0},
                                     "SCA with SimpleNet's generator (noise on every token)"),
    "sca-simplenet-discriminator": Entry("scan2ad.detectors.methods.sca.detector:SCA", {"discriminator": "mlp"},
                                         "SCA with SimpleNet's per-token MLP discriminator"),
    # Point-MAE / Point-BERT token methods (issue 8): memory banks and open-set heads on frozen tokens
    "patchcore-pointmae": Entry("scan2ad.detectors.methods.m3dm.detector:PatchCorePointMAE", {},
                                "PatchCore on Point-MAE tokens (1024 x 128 groups), nearest-token point scores"),
    "m3dm": Entry("scan2ad.detectors.methods.m3dm.detector:M3DM", {},
                  "M3DM 3D branch: memory bank of Point-MAE blocks 3/7/11, 3-NN interpolated point scores"),
    "reg3d-ad": Entry("scan2ad.detectors.methods.reg3d_ad.detector:Reg3DAD", {},
                      "Reg3D-AD: registration to a template, Point-MAE token and coordinate memory banks"),
    "devnet-pm": Entry("scan2ad.detectors.methods.devnet.detector:DevNet", {},
                       "DevNet_pm: deviation loss, top-k MIL on frozen Point-MAE tokens"),
    "devnet-pb": Entry("scan2ad.detectors.methods.devnet.detector:DevNet", {"encoder": "point-bert:point_bert_small"},
                       "DevNet_pb: deviation loss, top-k MIL on frozen Point-BERT tokens"),
    "dra-pm": Entry("scan2ad.detectors.methods.dra.detector:DRA", {},
                    "DRA_pm: seen, pseudo (Norm-AS), composite and normality heads on frozen Point-MAE tokens"),
    "dra-pb": Entry("scan2ad.detectors.methods.dra.detector:DRA", {"encoder": "point-bert:point_bert_small"},
                    "DRA_pb: seen, pseudo (Norm-AS), composite and normality heads on frozen Point-BERT tokens"),
}
# the paper's spellings (000_59f5340ba3ca2db6: DevNet_pm, DevNet_pb, DRA_pm, DRA_pb) as names a user can type
REGISTRY.update({alias: Entry(REGISTRY[name].target, REGISTRY[name].overrides, f"= {name} (paper spelling)")
                 for alias, name in (("DevNet_pm", "devnet-pm"), ("DevNet_pb", "devnet-pb"),
                                     ("DRA_pm", "dra-pm"), ("DRA_pb", "dra-pb"))})


def names() -> list[str]:
    return list(REGISTRY)


def detector_class(name: str):
    if name not in REGISTRY:
        raise InputError(f"unknown detector {name!r}; known: {', '.join(REGISTRY) or '(none)'}")
    module, _, attr = REGISTRY[name].target.partition(":")
    return getattr(importlib.import_module(module), attr)


def create(name: str, **overrides):
    """A detector with the registry's defaults for ``name`` and ``overrides`` on top."""
    entry = REGISTRY.get(name)
    klass = detector_class(name)
    cfg = {**entry.overrides, **{k: v for k, v in overrides.items() if v is not None}}
    det = klass(cfg)
    det.name = name
    return det
