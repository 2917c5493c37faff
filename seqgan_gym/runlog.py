"""The run directory: resolved config, metrics (CSV + TensorBoard), checkpoints, samples, a plot.

Layout of a run directory::

    config.json          the resolved ExperimentConfig and the command line
    metrics.csv          one row per evaluation / logged step (columns: METRIC_COLUMNS)
    tb/                  TensorBoard event files (same scalars, tag "<phase>/<name>")
    checkpoints/         generator_mle.pt, ... (torch.save of plain tensors; load with weights_only)
    samples.txt          generated sequences, one per line, token ids separated by spaces
    learning_curve.png   NLL_oracle (oracle data) or BLEU (a corpus), and NLL_test, against
                         epochs / iterations, all phases
    summary.json         the final numbers
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import time
from pathlib import Path

from seqgan_gym.utils import atomic_write_json, atomic_write_text

METRIC_COLUMNS = [
    "phase", "step", "wall_s", "nll_oracle", "nll_test", "nll_valid", "bleu", "self_bleu",
    "g_loss", "kl", "final_score", "d_loss", "d_acc_real", "d_acc_fake", "d_heldout_auc", "d_oracle_spearman",
]
"""``bleu`` / ``self_bleu`` (real corpora): BLEU-n of G's samples against the test split and
Self-BLEU-n of the samples, n = ``eval_bleu_order``.
``final_score``: the mean reward-model score (D(Y), BLEU, ...) of the finished sequences of the
latest generator update; ``g_loss``: REINFORCE's surrogate loss (SB3 logs its own under ``sb3/``).
``kl``: KL(G || G_MLE) per sequence on the latest update's sequences (with ``kl_coef > 0``).
``nll_valid``: G's NLL on the validation samples (``cfg.n_valid``), every MLE epoch.
``d_heldout_auc`` / ``d_oracle_spearman``: whether D's reward carries signal (adversarial evaluations
with a discriminator; :func:`seqgan_gym.metrics.discriminator_signal`)."""


class RunLog:
    """Writes one run directory. Rows are appended and flushed as they come, so a crash keeps them."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, resume_rows: int | None = None,
                 resume_wall_s: float = 0.0) -> None:
        """:param resume_rows: continue an existing run directory whose ``metrics.csv`` is cut back
            to its first ``resume_rows`` rows (those of its resumable checkpoint);
        :param resume_wall_s: the run's wall time at that checkpoint (``wall_s`` continues from it).
        """
        self.dir = Path(run_dir)
        self.rows: list[dict] = []
        if resume_rows is None and self.dir.exists() and any(self.dir.iterdir()):
            raise FileExistsError(f"run directory {self.dir} already exists and is not empty")
        self._lock = _lock(self.dir)  # one process writes a run directory at a time
        if resume_rows is not None:
            self.rows = _read_metrics(self.dir / "metrics.csv", resume_rows)
            if len(self.rows) != resume_rows:
                raise ValueError(f"{self.dir / 'metrics.csv'} has {len(self.rows)} rows, fewer than the "
                                 f"{resume_rows} its resumable checkpoint recorded")
        (self.dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.start = time.time() - resume_wall_s
        self.nll_limit: float | None = None
        """The divergence guard: a logged ``nll_*`` above this raises FloatingPointError (None: off)."""
        self.clock = None
        """The run's ETA (:class:`seqgan_gym.estimate.RunClock`; None: none), shown in the progress bars."""
        if resume_rows is not None:  # cut back atomically: a kill now keeps the old file whole
            kept = io.StringIO()
            writer = csv.DictWriter(kept, fieldnames=METRIC_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)
            atomic_write_text(self.dir / "metrics.csv", kept.getvalue())
        self._csv_file = open(self.dir / "metrics.csv", "a" if resume_rows is not None else "w", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=METRIC_COLUMNS)
        if resume_rows is None:
            self._csv.writeheader()
        self._csv_file.flush()
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.dir / "tb"))

    def write_json(self, name: str, obj) -> None:
        atomic_write_json(self.dir / name, obj)

    def log(self, phase: str, step: int, **values: float) -> dict:
        """Record metrics of ``phase`` ('mle', 'dis_pretrain', 'adversarial') at ``step``."""
        unknown = set(values) - set(METRIC_COLUMNS)
        if unknown:
            raise KeyError(f"unknown metric names {sorted(unknown)}; known: {METRIC_COLUMNS[3:]}")
        for name, v in values.items():
            if v is not None and not math.isfinite(float(v)):
                raise FloatingPointError(f"{phase} step {step}: metric {name} is {v}")
        row = {"phase": phase, "step": step, "wall_s": round(time.time() - self.start, 3), **values}
        self.rows.append(row)
        self._csv.writerow(row)
        self._csv_file.flush()
        if self.tb is not None:
            for name, v in values.items():
                if v is not None:
                    self.tb.add_scalar(f"{phase}/{name}", float(v), step)
            self.tb.flush()
        limit = self.nll_limit  # checked after writing the row, so metrics.csv shows it
        diverged = [k for k, v in values.items()
                    if limit is not None and k.startswith("nll") and v is not None and v > limit]
        if diverged:
            name = diverged[0]
            raise FloatingPointError(
                f"{phase} step {step}: {name} = {values[name]:.4g} exceeds {self.nll_limit:.1f} (10 x ln V; "
                "a uniform model scores ln V): the run diverged; lower the learning rate")
        return row

    def scalars(self, phase: str, step: int, **values: float) -> None:
        """Record side statistics in TensorBoard only (tag "<phase>/<name>"), not in ``metrics.csv``
        (e.g. a learned intermediate reward's training loss)."""
        if self.tb is None:
            return
        for name, v in values.items():
            if v is not None:
                self.tb.add_scalar(f"{phase}/{name}", float(v), step)
        self.tb.flush()

    def show_progress(self, bar, phase: str, step: int, values: dict[str, str]) -> None:
        """A progress bar's postfix after ``step`` steps of ``phase``: ``values`` (the last
        evaluation's numbers) and, with a :attr:`clock`, the run's ETA."""
        parts = [f"{k}={v}" for k, v in values.items()]
        if self.clock is not None:
            parts.append(self.clock.postfix(phase, step))
        if parts:
            bar.set_postfix_str(", ".join(parts))

    def write_samples(self, sequences, name: str = "samples.txt") -> None:
        lines = [" ".join(str(int(t)) for t in seq) for seq in sequences.tolist()]
        atomic_write_text(self.dir / name, "\n".join(lines) + "\n")

    def plot_learning_curve(self, floor: float | None = None, title: str = "") -> Path:
        """NLL_oracle and NLL_test over all phases on one x axis (MLE epochs, then iterations)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        signal = [r for r in self.rows if r["phase"] == "adversarial" and r.get("d_heldout_auc") is not None]
        if signal:  # a second panel: does D's reward carry signal?
            fig, (ax, d_ax) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
            xs = [r["step"] for r in signal]
            d_ax.plot(xs, [r["d_heldout_auc"] for r in signal], "o-", ms=3, label="d_heldout_auc")
            rho = [(x, r["d_oracle_spearman"]) for x, r in zip(xs, signal)
                   if r.get("d_oracle_spearman") is not None]
            if rho:
                d_ax.plot(*zip(*rho), "s-", ms=3, label="d_oracle_spearman")
            d_ax.axhline(0.5, color="C0", ls=":", lw=1)
            d_ax.axhline(0.0, color="C1", ls=":", lw=1)
            d_ax.set_xlabel("adversarial iteration")
            d_ax.set_title("D's signal (dotted: chance)", fontsize=10)
            d_ax.legend(fontsize=8)
            d_ax.grid(alpha=0.3)
        else:
            fig, ax = plt.subplots(figsize=(7, 4.2))
        offset, boundaries = 0, []
        bleu_ax = None
        for phase in ("mle", "adversarial"):
            rows = [r for r in self.rows if r["phase"] == phase and r.get("nll_test") is not None]
            if not rows:
                continue
            xs = [offset + r["step"] for r in rows]
            oracle = [(x, r["nll_oracle"]) for x, r in zip(xs, rows) if r.get("nll_oracle") is not None]
            if oracle:
                ax.plot(*zip(*oracle), "o-", ms=3, label=f"NLL_oracle ({phase})")
            bleu = [(x, r["bleu"]) for x, r in zip(xs, rows) if r.get("bleu") is not None]
            if bleu:  # a real corpus: BLEU on its own axis
                bleu_ax = bleu_ax or ax.twinx()
                bleu_ax.plot(*zip(*bleu), "^-", ms=3, color="C2" if phase == "mle" else "C3",
                             label=f"BLEU ({phase})")
                bleu_ax.set_ylabel("BLEU vs test split")
            test = [(x, r["nll_test"]) for x, r in zip(xs, rows) if r.get("nll_test") is not None]
            if test:
                ax.plot(*zip(*test), "s--", ms=3, alpha=0.7, label=f"NLL_test ({phase})")
            boundaries.append(xs[-1])
            offset = xs[-1]
        if len(boundaries) > 1:
            ax.axvline(boundaries[0], color="gray", ls=":", lw=1)
        if floor is not None:
            ax.axhline(floor, color="k", ls=":", lw=1, label=f"oracle floor {floor:.3f}")
        ax.set_xlabel("MLE epoch, then adversarial iteration")
        ax.set_ylabel("per-token NLL")
        ax.set_title(title or "SeqGAN learning curve")
        ax.legend(fontsize=8, loc="upper left")
        if bleu_ax is not None:
            bleu_ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = self.dir / "learning_curve.png"
        tmp = path.with_name(".learning_curve.tmp.png")
        fig.savefig(tmp, dpi=120)
        plt.close(fig)
        tmp.replace(path)
        return path

    def close(self) -> None:
        self._csv_file.close()
        if self.tb is not None:
            self.tb.close()
        self._lock.close()


def _read_metrics(path: Path, n: int) -> list[dict]:
    """The first ``n`` rows of a ``metrics.csv`` as :meth:`RunLog.log` returned them (empty cells
    left out; rows after them, perhaps torn by the kill, are not read)."""
    with open(path, newline="") as f:
        rows = []
        for raw in itertools.islice(csv.DictReader(f), n):
            row = {"phase": raw["phase"], "step": int(raw["step"])}
            row.update({k: float(v) for k, v in raw.items() if k not in ("phase", "step") and v != ""})
            rows.append(row)
    return rows


def _lock(run_dir: Path):
    """An exclusive lock on ``run_dir/.lock`` for this process's lifetime (Linux / macOS); a run
    directory another live process holds is refused."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / ".lock", "w")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise FileExistsError(f"run directory {run_dir} is being written by another process") from None
    return handle
