"""Resumable checkpoints: everything a training run needs to continue, bit for bit, after a kill.

:mod:`seqgan_gym.algorithm1` saves ``checkpoints/resume.pt`` after every MLE epoch, every D
pre-training step and every adversarial iteration. It holds the phase and step reached, the number
of rows ``metrics.csv`` had then, the run's wall time, and the state of every object the phase
registered with :meth:`Checkpointer.begin` (models, optimizers, the agent, the random number
generators of the run's streams), plus torch's, numpy's and Python's global random states. It is
written atomically (a kill mid-write leaves the previous one) and read with
``torch.load(weights_only=True)``.

Resuming (``seqgan-gym train --resume RUN_DIR``) rebuilds the run from its ``config.json``, cuts
``metrics.csv`` back to the checkpoint's rows, skips the phases already done and restores the
tracked objects of the phase in progress, so the rows that follow are the ones the uninterrupted
run writes (on the same machine, with the run's own thread count, which ``--resume`` takes from
``config.json`` unless ``--threads`` says otherwise: a matrix product split over another number of
threads rounds differently). ``resume.pt`` also holds the run's config, and a ``config.json``
changed since is refused, naming the field. TensorBoard's events are appended: steps
between the checkpoint and the kill appear twice there; SB3's ``sb3/progress.csv`` of the stopped
part is kept as ``sb3/progress.<n>.csv``. A completed run deletes ``resume.pt``.
"""

from __future__ import annotations

import random
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgan_gym.experiment.log import RunLog
from seqgan_gym.utils import atomic_torch_save, safe_torch_load

PHASES = ("mle", "dis_pretrain", "adversarial")
"""The phases of a training run, in order."""
STATE_FILE = "resume.pt"
CARRIED = ("generator", "discriminator", "d_optimizer", "intermediate")
"""The objects that live on from one phase to the next, under these names in every phase
(``intermediate``: a learned intermediate reward, :mod:`seqgan_gym.rewards.intermediate`)."""


class Checkpointer:
    """Saves and restores the resumable state of one run directory.

    :param checkpoints: the run's ``checkpoints/`` folder (None: save nothing, as the phases do
        when their caller passes no checkpointer, e.g. the benchmarks).
    :param saved: the state loaded from an earlier ``resume.pt`` (None: a fresh run).
    :param config: the run's config (``ExperimentConfig.to_dict()``), saved with every state so that
        a resume can tell when ``config.json`` no longer describes the run (None: not saved).
    """

    def __init__(self, checkpoints: str | Path | None, saved: dict | None = None,
                 config: dict | None = None) -> None:
        self.path = None if checkpoints is None else Path(checkpoints) / STATE_FILE
        self.saved = saved
        self.config = config
        self.phase: str | None = None
        self.objects: dict[str, Any] = {}

    @classmethod
    def load(cls, checkpoints: str | Path) -> Checkpointer:
        """The checkpointer of a run to resume; a missing, corrupt or foreign file is a one-line
        error naming it."""
        path = Path(checkpoints) / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: the run stopped before its first checkpoint "
                                    "(the end of its first epoch or step); remove its folder and "
                                    "start it again")
        if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; truncated ones fail too
            raise ValueError(f"{path}: corrupt or not a resume file (not a torch checkpoint archive)")
        saved = safe_torch_load(path)
        if not (isinstance(saved, dict) and saved.get("phase") in PHASES
                and isinstance(saved.get("step"), int) and isinstance(saved.get("rows"), int)
                and isinstance(saved.get("objects"), dict)):
            raise ValueError(f"{path}: corrupt or not a resume file (not a seqgan-gym resumable "
                             "checkpoint)")
        return cls(checkpoints, saved, saved.get("config"))

    def check_config(self, config: dict, source: str | Path) -> None:
        """Refuse ``config`` (read from ``source``, the run's ``config.json``) where it differs from
        the config this state was saved with, in one line naming the first field that differs."""
        saved = (self.saved or {}).get("config")
        if not isinstance(saved, dict):  # written before states carried their config
            return
        for name in sorted(saved):  # a field this version added and the state lacks: its default
            if saved[name] != config.get(name, "<absent>"):
                raise ValueError(f"{source}: {name} is {config.get(name, '<absent>')!r}, but the run's "
                                 f"{self.path.name} was written with {saved[name]!r} "
                                 "(config.json was changed after the run started)")

    def begin(self, phase: str, **objects: Any) -> int | None:
        """Start ``phase`` with the objects whose state its checkpoints hold: anything with
        ``state_dict`` / ``load_state_dict`` (modules, optimizers, agents) or a ``torch.Generator``.
        Objects that live on from phase to phase are named as in :data:`CARRIED`.

        Returns the number of steps of ``phase`` already done: 0 in a fresh run or for a phase not
        reached yet; the saved step for the phase in progress (its objects and the global random
        states restored); None for a phase already finished (skip it; its :data:`CARRIED` objects
        are restored from the later phase's state)."""
        self.phase = phase
        self.objects = {name: obj for name, obj in objects.items() if obj is not None}
        objects = self.objects
        if self.saved is None:
            return 0
        here, saved = PHASES.index(phase), PHASES.index(self.saved["phase"])
        if here > saved:
            return 0
        for name, obj in objects.items():
            if here == saved or name in CARRIED:
                state = self.saved["objects"].get(name)
                if state is None:
                    raise ValueError(f"{self.path} holds no state for {name!r}: it was written by "
                                     "another version or configuration of seqgan-gym")
                try:
                    if isinstance(obj, torch.Generator):
                        obj.set_state(state)
                    else:
                        obj.load_state_dict(state)
                except (RuntimeError, ValueError, KeyError, TypeError) as e:
                    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                    raise ValueError(f"{self.path}: the saved {name!r} does not fit this run (was its "
                                     f"config.json changed?): {first[:200]}") from None
        if here < saved:
            return None
        _set_global_random_state(self.saved["global_random"])
        return int(self.saved["step"])

    def save(self, step: int, log: RunLog) -> None:
        """Write the state of the current phase's objects: the phase has done ``step`` steps, and
        ``log`` holds the run's rows so far. Call it after the step's row is logged: the row count
        is part of the state."""
        if self.path is None:
            return
        objects = {name: obj.get_state() if isinstance(obj, torch.Generator) else obj.state_dict()
                   for name, obj in self.objects.items()}
        state = {"phase": self.phase, "step": int(step), "rows": len(log.rows),
                 "wall_s": time.time() - log.start, "objects": objects,
                 "global_random": _global_random_state()}
        if self.config is not None:
            state["config"] = self.config
        atomic_torch_save(state, self.path)


def _global_random_state() -> dict:
    """torch's (and CUDA's), numpy's and Python's global random states, as tensors and lists."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)},
             "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_global_random_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
