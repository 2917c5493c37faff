"""The table of a sweep: per configuration, mean +- std over seeds of each run's first and last
adversarial evaluation, Welch p-values against a baseline configuration, as markdown and JSON, and
the learning curves of every configuration on one PNG.

It reads the trials' run directories (``metrics.csv``, ``config.json``, ``summary.json``), so it
needs no Ray: ``seqgan-gym sweep SPEC --out DIR --report-only`` rewrites it. The p-values need scipy
(in the ``ray`` and ``bench`` extras).
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import warnings
from pathlib import Path

import numpy as np

from seqgan_gym.utils import atomic_write_json, atomic_write_text, cpu_model

CURVE_METRICS = ("nll_oracle", "nll_test", "bleu", "self_bleu")
LABELS = {"nll_oracle": "NLL_oracle", "nll_test": "NLL_test", "bleu": "BLEU", "self_bleu": "Self-BLEU",
          "d_heldout_auc": "d_heldout_auc", "d_oracle_spearman": "d_oracle_spearman"}
# what a figure's axis measures, beside its name
MEANINGS = {"nll_oracle": "quality, lower is better", "nll_test": "diversity / coverage, lower is better",
            "bleu": "quality, higher is better", "self_bleu": "lower is more diverse"}


def load_run(run_dir: str | Path, x_axis: str = "iteration") -> dict | None:
    """One completed run's record: its adversarial evaluations (``curve``, each with ``x``), the
    first (``start``) and last (``end``) of them, the last ``final_score`` and the wall time. None
    if the run did not complete."""
    run_dir = Path(run_dir)
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        config = json.loads((run_dir / "config.json").read_text())["config"]
        with open(run_dir / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError, KeyError):
        return None
    if summary.get("status") != "completed":
        return None
    per_x = config.get("g_steps", 1) if x_axis == "generator_updates" else 1
    curve, scores = [], []
    for raw in rows:
        if raw["phase"] != "adversarial":
            continue
        if raw.get("final_score"):
            scores.append(float(raw["final_score"]))
        if not raw.get("nll_test"):
            continue
        point = {"x": int(raw["step"]) * per_x, "step": int(raw["step"])}
        point.update({k: float(v) for k, v in raw.items() if k in LABELS and v not in (None, "")})
        curve.append(point)
    if not curve:
        return None
    return {"curve": curve, "start": curve[0], "end": curve[-1],
            "final_score": scores[-1] if scores else None, "wall_s": summary.get("wall_s"),
            "g_steps": config.get("g_steps")}


def summarise(records: list[dict], baseline: str, metric: str) -> dict:
    """Per configuration (in first-seen order): n, and for every metric the runs have, the start
    mean, the end mean / std (ddof 1; None for one seed), the change's mean / std, the end values and
    Welch's p of the end values against ``baseline``'s (None where either side has < 2 runs or
    scipy is missing). ``records``: ``{"config", "seed", "start": {metric: value}, "end": {...},
    "final_score", "wall_s"}``, completed runs only."""
    try:
        from scipy.stats import ttest_ind
    except ImportError:
        ttest_ind = None
    configs: dict[str, list[dict]] = {}
    for r in records:
        configs.setdefault(r["config"], []).append(r)
    summary = {}
    for name, runs in configs.items():
        entry = {"n": len(runs), "seeds": [r["seed"] for r in runs], "metrics": {},
                 "final_score_mean": _mean([r["final_score"] for r in runs]),
                 "wall_s_mean": _mean([r["wall_s"] for r in runs])}
        names = [m for m in LABELS if all(m in r["end"] and m in r["start"] for r in runs)]
        for m in names:
            start = np.array([r["start"][m] for r in runs], dtype=float)
            end = np.array([r["end"][m] for r in runs], dtype=float)
            entry["metrics"][m] = {
                "start_mean": float(start.mean()), "end_mean": float(end.mean()), "end_std": _std(end),
                "change_mean": float((end - start).mean()), "change_std": _std(end - start),
                "end_values": end.tolist(), "p_vs_baseline": None}
        summary[name] = entry
    if baseline in summary:
        for name, entry in summary.items():
            for m, values in entry["metrics"].items():
                other = summary[baseline]["metrics"].get(m)
                if name == baseline or other is None or ttest_ind is None:
                    continue
                a, b = values["end_values"], other["end_values"]
                if len(a) > 1 and len(b) > 1:
                    with warnings.catch_warnings():  # scipy's note on nearly equal values
                        warnings.simplefilter("ignore", RuntimeWarning)
                        p = float(ttest_ind(a, b, equal_var=False).pvalue)
                    values["p_vs_baseline"] = p if math.isfinite(p) else None
    return summary


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _std(x: np.ndarray) -> float | None:
    return float(x.std(ddof=1)) if x.size > 1 else None


def varying_fields(spec: dict) -> list[str]:
    """The training fields whose value differs between the spec's configurations."""
    merged = [{**spec.get("set", {}), **c} for c in spec["configurations"].values()]
    keys = list(dict.fromkeys(k for m in merged for k in m if k != "generator_checkpoint"))
    return [k for k in keys if len({repr(m.get(k)) for m in merged}) > 1]


def _have_scipy() -> bool:
    try:
        import scipy.stats  # noqa: F401
    except ImportError:
        return False
    return True


def markdown_table(spec: dict, summary: dict, failed: dict[str, list[str]] | None = None) -> str:
    """The sweep's table: one row per configuration."""
    metric, baseline = spec["metric"], spec["baseline"]
    p_note = (f"p: Welch's t-test of the end {LABELS[metric]} against `{baseline}`'s ({spec['mode']} is "
              "better)" if _have_scipy() else "p: omitted, scipy is not installed (pip install scipy)")
    fields = varying_fields(spec)
    shown = [m for m in CURVE_METRICS if any(m in e["metrics"] for e in summary.values())]
    shown = [metric] + [m for m in shown if m != metric] if metric in LABELS else shown
    seeds = spec["seeds"]
    lines = [
        f"Sweep `{spec['name']}`: {spec['preset']} preset, seeds {seeds}, {len(spec['configurations'])} "
        f"configurations. Mean ± std over seeds (std with ddof 1); start: the first adversarial "
        f"evaluation, end: the last; {p_note}.", "",
        "| configuration | " + "".join(f"{f} | " for f in fields)
        + "".join(f"{LABELS[m]} start → end | " + (f"{LABELS[m]} change | " if m == metric else "")
                  for m in shown)
        + f"final score | p vs {baseline} | s / trial | runs |",
    ]
    lines.append("|" + " --- |" * (1 + len(fields) + len(shown) + (metric in shown) + 4))
    merged = {n: {**spec.get("set", {}), **c} for n, c in spec["configurations"].items()}
    for name in spec["configurations"]:
        entry = summary.get(name)
        cells = [f"`{name}`" if name != baseline else f"**`{name}`** (baseline)"]
        cells += [str(merged[name].get(f, "—")) for f in fields]
        if entry is None:
            cells += ["—"] * (len(shown) + (metric in shown) + 3) + ["0"]
        else:
            for m in shown:
                v = entry["metrics"].get(m)
                if v is None:
                    cells += ["—"] + (["—"] if m == metric else [])
                    continue
                cells.append(f"{v['start_mean']:.3f} → {v['end_mean']:.3f}{_pm(v['end_std'])}")
                if m == metric:
                    cells.append(f"{v['change_mean']:+.3f}{_pm(v['change_std'])}")
            p = (entry["metrics"].get(metric) or {}).get("p_vs_baseline")
            cells.append("—" if entry["final_score_mean"] is None else f"{entry['final_score_mean']:.3f}")
            cells.append("—" if p is None else f"{p:.2g}")
            cells.append("—" if entry["wall_s_mean"] is None else f"{entry['wall_s_mean']:.0f}")
            cells.append(str(entry["n"]))
        if failed and failed.get(name):
            cells[-1] += f" ({len(failed[name])} not completed: {', '.join(failed[name])})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pm(std: float | None) -> str:
    return "" if std is None else f" ± {std:.3f}"


def plot_curves(spec: dict, runs: dict[str, list[dict]], path: Path) -> Path:
    """Every configuration's mean curve (band: the seeds' range) of the spec's metric and of
    NLL_test (or Self-BLEU), one panel each, on one PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = spec["metric"]
    panels = [metric] + [m for m in ("nll_test", "self_bleu") if m != metric
                         and any(m in p for rs in runs.values() for r in rs for p in r["curve"])][:1]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, m in zip(axes[0], panels):
        for i, (name, rs) in enumerate(runs.items()):
            xs = sorted({p["x"] for r in rs for p in r["curve"] if m in p})
            if not xs:
                continue
            ys = np.array([[next((p[m] for p in r["curve"] if p["x"] == x and m in p), np.nan) for x in xs]
                           for r in rs])
            color = colors[i % len(colors)]
            ax.plot(xs, np.nanmean(ys, 0), "o-", ms=3, color=color, label=f"{name} (n={len(rs)})")
            if len(rs) > 1:
                ax.fill_between(xs, np.nanmin(ys, 0), np.nanmax(ys, 0), color=color, alpha=0.15)
        ax.set_xlabel("adversarial iteration" if spec["x_axis"] == "iteration" else "generator updates")
        ax.set_ylabel(f"{LABELS[m]} ({MEANINGS[m]})" if m in MEANINGS else LABELS[m])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"sweep {spec['name']} ({spec['preset']} preset): mean over seeds {spec['seeds']}, "
                 "band = seeds' range", fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


def write_report(out: str | Path, spec: dict, trials: list[dict], run_info: dict | None = None) -> dict:
    """Read every trial's run directory and write ``sweep.md``, ``sweep.json`` and ``sweep.png`` in
    ``out``. Returns ``{"markdown", "summary"}``."""
    out = Path(out)
    records, runs, failed, trial_records = [], {}, {}, []
    for trial in trials:
        run = load_run(trial["run_dir"], spec["x_axis"])
        status = _read_json(Path(trial["status_file"])) if trial.get("status_file") else None
        attempts = (status or {}).get("attempts", [])
        trial_records.append({"name": trial["name"], "config": trial["config"], "seed": trial["seed"],
                              "run_dir": trial["run_dir"], "completed": run is not None, "attempts": attempts,
                              "wall_s": run and run["wall_s"],
                              "start": run and run["start"], "end": run and run["end"]})
        if run is None:
            failed.setdefault(trial["config"], []).append(f"seed {trial['seed']}")
            continue
        records.append({"config": trial["config"], "seed": trial["seed"], **run})
        runs.setdefault(trial["config"], []).append(run)
    summary = summarise(records, spec["baseline"], spec["metric"])
    table = markdown_table(spec, summary, failed)
    resumed = [f"{t['name']} (attempt {a['attempt']}: {a['how']}"
               + (f", after {a['resumed_after']}" if a.get("resumed_after") else "") + ")"
               for t in trial_records for a in t["attempts"][1:]
               if not a["how"].startswith("completed earlier")]  # a finished run reported again
    if resumed:
        table += "\n\nRestarted trials: " + "; ".join(resumed) + "."
    if run_info:
        where = f"Ray {run_info['ray']}" if run_info.get("ray") else "local processes (no Ray)"
        table += (f"\n\nWall time {run_info['wall_s']:.0f} s for {len(trials)} trials, "
                  f"{run_info['concurrent']} at a time ({run_info['cpus_per_trial']} CPU(s) and torch "
                  f"thread(s) each), {where}.")
    out.mkdir(parents=True, exist_ok=True)
    if runs:
        plot_curves(spec, runs, out / "sweep.png")
    atomic_write_text(out / "sweep.md", table + "\n")
    atomic_write_json(out / "sweep.json", {"spec": spec, "run": run_info, "summary": summary,
                                           "trials": trial_records, "machine": _machine()})
    incomplete = [t["name"] for t in trial_records if not t["completed"]]
    return {"markdown": table, "summary": summary, "incomplete": incomplete}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _machine() -> dict:
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "python": platform.python_version(),
            "loadavg_end": load}
