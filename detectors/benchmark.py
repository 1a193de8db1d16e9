"""Benchmark several detectors on one dataset: one evaluation run per method under
``<out>/<method>/`` and a combined table (``<out>/benchmark.md``, ``benchmark.json``) of every
method's class-mean O/P-AUROC/AUPR (mean ± std over seeds), FPS, fit time, memory and size.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from scan2ad.detectors.evaluate import EvalSettings, evaluate
from scan2ad.detectors.metrics import METRICS, fmt
from scan2ad.errors import InputError
from scan2ad.io import atomic_open, read_json, write_json


def benchmark(dataset: str | Path, out: str | Path, methods: list[str], settings: EvalSettings,
              overrides: dict[str, dict] | None = None, overwrite: bool = False) -> dict:
    """Evaluate every method of ``methods``; ``overrides`` maps a method to detector settings
    added to ``settings.overrides`` for that method alone.

    ``out`` is claimed (:mod:`scan2ad.outputs`) and written through a staging folder that is
    kept when a method fails: rerunning the same benchmark skips the methods already finished
    there and replaces ``out`` only when every method is done."""
    from scan2ad.detectors.evaluate import run_job
    from scan2ad.detectors.registry import REGISTRY
    from scan2ad.outputs import claim_output, read_marker

    if not methods:
        raise InputError("no methods to benchmark (--methods a,b,...)")
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise InputError(f"unknown detector(s) {unknown}; known: {', '.join(REGISTRY)}")
    if len(set(methods)) != len(methods):
        raise InputError(f"--methods repeats a method: {methods}")
    out, root = Path(out), Path(dataset)
    per_method = {m: dataclasses.replace(settings, method=m,
                                         overrides={**settings.overrides, **(overrides or {}).get(m, {})})
                  for m in methods}
    job = json.loads(json.dumps({"methods": list(methods),
                                 "runs": {m: run_job(s, root) for m, s in per_method.items()}}, default=str))
    results = {}
    with claim_output(out, "benchmark", job, overwrite=overwrite, staging="always", keep_staging=True,
                      inputs={"the dataset": root}) as claim:
        for m, s in per_method.items():
            sub = claim.work / m.replace("+", "_")
            mark = read_marker(sub)
            if (mark and mark.get("state") == "complete" and mark.get("job") == job["runs"][m]
                    and (sub / "metrics.json").is_file()):
                results[m] = read_json(sub / "metrics.json")  # finished before an interruption
                continue
            results[m] = evaluate(dataset, sub, s, overwrite=True)  # inside our own staging folder
        write_json(claim.work / "benchmark.json", {"dataset": str(root.resolve()), "results": results})
        with atomic_open(claim.work / "benchmark.md") as fh:
            fh.write(benchmark_markdown(results))
    return results


def benchmark_markdown(results: dict) -> str:
    first = next(iter(results.values()))
    lines = [f"# Benchmark — {first['protocol']}, seeds {', '.join(map(str, first['seeds']))}", ""]
    for sub in first["subsets"]:
        lines += [f"## {sub.capitalize()}", "",
                  "| method | " + " | ".join(METRICS) + " | FPS | CPU s/sample | fit s/class | peak RSS MB | parameters |",
                  "|---|" + "---|" * (len(METRICS) + 5)]
        for name, r in results.items():
            lines.append(f"| {name} | " + " | ".join(fmt(*r["mean"][sub][m]) for m in METRICS)
                         + f" | {r['fps']:.2f} | {r['cpu_seconds_per_sample']:.2f} | "
                           f"{r['fit_seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
                           f"{r['parameters']:,} |")
        lines.append("")
    lines.append(f"~{first['points_per_sample']:.0f} points per test sample.")
    return "\n".join(lines) + "\n"
