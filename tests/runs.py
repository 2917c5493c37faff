"""What the tests that start real ``seqgan-gym train`` processes share: the command, its
environment, the rows a run has written, and its outcome (to compare two runs byte for byte).

Imported as ``from runs import ...`` (pytest's default ``prepend`` import mode puts tests/ on the path).
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
from pathlib import Path

FINAL_FILES = ["generator_mle.pt", "discriminator_pretrained.pt", "generator_adv.pt", "discriminator_adv.pt"]


def train_command(*args: str) -> list[str]:
    """``seqgan-gym train ARGS`` run by this Python."""
    return [sys.executable, "-m", "seqgan_gym.run.cli", "train", *args]


def run_env() -> dict:
    """This process's environment, with OpenMP's threads sleeping when idle (as the CLI sets it)."""
    return {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}


def default_ctrl_c() -> None:
    """``preexec_fn`` of a run the test will Ctrl-C: SIGINT's default action (KeyboardInterrupt),
    even where pytest itself runs with SIGINT ignored (a background job of a shell script), which
    the run would otherwise inherit and keep."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def logged_rows(run_dir: Path) -> list[str]:
    """The rows of ``metrics.csv`` written so far (none before the file exists)."""
    try:
        return (run_dir / "metrics.csv").read_text().splitlines()[1:]
    except OSError:
        return []


def outcome(run_dir: Path) -> dict:
    """metrics.csv without its wall-time column, and the hashes of the final checkpoints and samples."""
    rows = [line.split(",") for line in (run_dir / "metrics.csv").read_text().splitlines()]
    files = {name: hashlib.sha256((run_dir / "checkpoints" / name).read_bytes()).hexdigest()
             for name in FINAL_FILES}
    files["samples.txt"] = hashlib.sha256((run_dir / "samples.txt").read_bytes()).hexdigest()
    return {"metrics": [row[:2] + row[3:] for row in rows], "files": files}
