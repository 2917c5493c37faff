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

import contextlib
import csv
import io
import itertools
import math
import os
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
with a discriminator; :func:`seqgan_gym.evaluation.metrics.discriminator_signal`)."""
PHASES = ("mle", "mle_best", "dis_pretrain", "adversarial")
"""The ``phase`` of a row, in the order a run writes them (``mle_best``: the MLE epoch it goes on
with, after ``mle_select best``)."""
#: Tests only: ``"<phase>,<step>"`` makes the run stop right after writing that row of metrics.csv,
#: create ``paused`` in the run directory and wait there for a signal, so that a test kills or
#: interrupts it at a known point (not after a guessed delay).
PAUSE_ENV_VAR = "SEQGAN_GYM_PAUSE_AT"
LOCK_FILE = ".lock"


class RunLog:
    """Writes one run directory. Rows are appended and flushed as they come, so a crash keeps them."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, resume_rows: int | None = None,
                 resume_wall_s: float = 0.0, lock: RunDirLock | None = None,
                 resume_last: tuple[str, int] | None = None, max_steps: dict[str, int] | None = None) -> None:
        """:param resume_rows: continue an existing run directory whose ``metrics.csv`` is cut back
            to its first ``resume_rows`` rows (those of its resumable checkpoint);
        :param resume_wall_s: the run's wall time at that checkpoint (``wall_s`` continues from it);
        :param lock: the directory's lock, taken by the caller before it read or wrote anything
            there (None: taken here); closed with the log;
        :param resume_last: ``(phase, step)`` the last of those rows must be (the checkpoint's);
        :param max_steps: the last step of each phase the run writes; rows beyond are refused.
        """
        self.dir = Path(run_dir)
        self.rows: list[dict] = []
        if resume_rows is None and run_dir_contents(self.dir):
            raise FileExistsError(f"run directory {self.dir} already exists and is not empty")
        self._lock = lock or RunDirLock(self.dir)  # one process writes a run directory at a time
        if resume_rows is not None:
            self.rows = read_metrics(self.dir / "metrics.csv", resume_rows, resume_last, max_steps)
        (self.dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.start = time.time() - resume_wall_s
        self.nll_limit: float | None = None
        """The divergence guard: a logged ``nll_*`` above this raises FloatingPointError (None: off)."""
        self.clock = None
        """The run's ETA (:class:`seqgan_gym.run.estimate.RunClock`; None: none), shown in the progress
        bars."""
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
        with naming_path(self.dir / "metrics.csv"):
            self._csv.writerow(row)
            self._csv_file.flush()
        if os.environ.get(PAUSE_ENV_VAR) == f"{phase},{step}":
            (self.dir / "paused").touch()
            while True:  # until a signal ends the process (SIGKILL) or raises here (SIGINT)
                time.sleep(60)
        if self.tb is not None:
            with naming_path(self.dir / "tb"):
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
        with contextlib.suppress(OSError):  # a full disk: the run's own error is the one to show
            self._csv_file.close()
        if self.tb is not None:
            with contextlib.suppress(OSError):
                self.tb.close()
        self._lock.close()


def read_metrics(path: Path, n: int, last: tuple[str, int] | None = None,
                 max_steps: dict[str, int] | None = None) -> list[dict]:
    """The first ``n`` rows of a ``metrics.csv`` as :meth:`RunLog.log` returned them (empty cells
    left out; rows after them, perhaps torn by the kill, are not read), checked: the header is
    :data:`METRIC_COLUMNS`, every row has a phase of :data:`PHASES` and an integer step no later
    than ``max_steps[phase]``, rows come in the order a run writes them, every value is a number,
    and the last row is ``last``. Anything else is a ValueError of one line naming the file, the
    line and what is wrong."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != METRIC_COLUMNS:
            got = ",".join(reader.fieldnames or [])[:60]
            raise ValueError(f"{path}: the header is not seqgan-gym's (expected "
                             f"{','.join(METRIC_COLUMNS[:3])},...; got {got!r})")
        rows, previous = [], None
        for line, raw in enumerate(itertools.islice(reader, n), start=2):
            where = f"{path} line {line}"
            phase, step = raw["phase"], raw["step"]
            if phase not in PHASES:
                raise ValueError(f"{where}: phase {phase[:40]!r} is not one a run writes "
                                 f"({', '.join(PHASES)})")
            if None in raw or None in raw.values():
                raise ValueError(f"{where}: not a row of {len(METRIC_COLUMNS)} cells")
            try:
                step = int(step)
            except ValueError:
                raise ValueError(f"{where}: step {step[:40]!r} is not an integer") from None
            limit = (max_steps or {}).get(phase)
            if step < 0 or (limit is not None and step > limit):
                raise ValueError(f"{where}: {phase} step {step} is not one this run writes (0 to {limit})")
            key = (PHASES.index(phase), step)
            if previous is not None and key <= previous:
                raise ValueError(f"{where}: {phase} step {step} after {PHASES[previous[0]]} step "
                                 f"{previous[1]}: rows out of order or repeated")
            previous = key
            row = {"phase": phase, "step": step}
            for name, value in raw.items():
                if name in ("phase", "step") or value == "":
                    continue
                try:
                    row[name] = float(value)
                except ValueError:
                    raise ValueError(f"{where}: {name} {value[:40]!r} is not a number") from None
            rows.append(row)
    if len(rows) != n:
        raise ValueError(f"{path} has {len(rows)} rows, fewer than the {n} its resumable checkpoint "
                         "recorded")
    if last is not None and rows and (rows[-1]["phase"], rows[-1]["step"]) != tuple(last):
        raise ValueError(f"{path} line {n + 1}: {rows[-1]['phase']} step {rows[-1]['step']}, but the "
                         f"resumable checkpoint was written after {last[0]} step {last[1]}")
    return rows


def run_dir_contents(run_dir: Path) -> list[Path]:
    """What a run directory holds besides its lock file (nothing: ``[]``, also when it does not exist)."""
    try:
        return [p for p in Path(run_dir).iterdir() if p.name != LOCK_FILE]
    except (FileNotFoundError, NotADirectoryError):
        return []


class RunDirLock:
    """An exclusive lock on ``run_dir/.lock`` (Linux / macOS ``flock``), held until :meth:`close`:
    one process reads, deletes or writes a run directory at a time. A directory another live
    process holds is refused in one line (FileExistsError).

    :param run_dir: the run directory; created (with its parents) when ``create``, else it must
        exist (FileNotFoundError).
    """

    def __init__(self, run_dir: str | Path, create: bool = True) -> None:
        self.dir = Path(run_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise ValueError(f"run directory {self.dir} is a file")
        self.created_dir = False
        if not self.dir.is_dir():
            if not create:
                raise FileNotFoundError(f"run directory {self.dir} does not exist")
            self.dir.mkdir(parents=True)
            self.created_dir = True
        path = self.dir / LOCK_FILE
        self.created_file = not path.exists()
        self._handle = open(path, "a")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock
            return
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # a lock file that a failed set-up removed after we opened it locks nothing
            same = os.path.samestat(os.fstat(self._handle.fileno()), os.stat(path))
        except (BlockingIOError, FileNotFoundError):
            same = False
        if not same:
            self._handle.close()
            raise FileExistsError(f"run directory {self.dir} is being written by another process")

    def close(self) -> None:
        """Release the lock (the lock file stays: removing it could let two processes lock
        different files of the same name)."""
        self._handle.close()

    def abandon(self) -> None:
        """Release the lock after a set-up that failed before writing anything: the lock file goes
        if this lock created it, and the directory too if this lock created it and it is empty."""
        try:
            if self.created_file:
                with contextlib.suppress(OSError):
                    (self.dir / LOCK_FILE).unlink()  # while still held: see __init__
            if self.created_dir and not run_dir_contents(self.dir):
                with contextlib.suppress(OSError):
                    self.dir.rmdir()
        finally:
            self._handle.close()


@contextlib.contextmanager
def naming_path(path: Path):
    """Re-raise an OSError that does not say which file (a write's ``[Errno 28] No space left on
    device``, ``[Errno 27] File too large``) with ``path`` as its file name."""
    try:
        yield
    except OSError as e:
        if e.filename is None and e.strerror:
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
