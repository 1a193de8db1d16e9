"""Benchmark several detectors on one dataset: one evaluation run per method under
``<out>/<method>/`` and a combined table (``<out>/benchmark.md``, ``benchmark.json``) of every
method's class-mean O/P-AUROC/AUPR (mean ± std over seeds), FPS, fit time, memory and size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from scan2ad.detectors.evaluate import EvalSettings, evaluate
from scan2ad.detectors.metrics import METRICS, fmt
from scan2ad.io import atomic_open, write_json


def benchmark(dataset: str | Path, out: str | Path, methods: list[str], settings: EvalSettings,
              overrides: dict[str, dict] | None = None) -> dict:
    """Evaluate every method of ``methods``; ``overrides`` maps a method to detector settings
    added to ``settings.overrides`` for that method alone."""
    out = Path(out)
    results = {}
    for m in methods:
        extra = {**settings.overrides, **(overrides or {}).get(m, {})}
        results[m] = evaluate(dataset, out / m.replace("+", "_"),
                              dataclasses.replace(settings, method=m, overrides=extra))
    write_json(out / "benchmark.json", {"dataset": str(Path(dataset).resolve()), "results": results})
    with atomic_open(out / "benchmark.md") as fh:
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
