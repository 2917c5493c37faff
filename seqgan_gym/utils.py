"""Small shared helpers: device choice, seeded random number generators, the Adam optimiser,
atomic file writes, safe loading."""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch


def resolve_device(device: str | None = None) -> torch.device:
    """``None``/``"auto"``: CUDA when present, else CPU. Anything else is passed to torch."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the count it had."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; "unknown" elsewhere), for benchmark records."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam over the trainable ``params``; ``fused=True`` where this torch supports it (faster)."""
    params = [p for p in params if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch / unsupported device
        return torch.optim.Adam(params, lr=lr)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, then rename.

    A crash mid-write leaves the previous file intact, never a truncated one (a SIGKILL may leave
    the hidden temporary ``.<name>.*.tmp``: :func:`remove_stale_temporaries` clears those). The
    file gets the mode an ordinary ``open`` would give it (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None and e.strerror:  # a write's ENOSPC / EFBIG
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


TEMPORARY_SUFFIX = ".tmp"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: setting it later would race with other threads

def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporaries that :func:`atomic_write_bytes` left in ``folder`` when a process was
    killed mid-write (call it only when no other process writes there); returns them."""
    stale = sorted(Path(folder).glob(f".*{TEMPORARY_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a temporary file and rename."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def safe_torch_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True``; a corrupt or foreign file gets a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:  # weights_only refused an object: name it, not torch's advice
        # torch's message: generic advice (to load it unsafely), then the line naming the problem
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        named = [line.split("error:", 1)[-1].strip() for line in lines
                 if "GLOBAL" in line or "Unsupported" in line]
        reason = (named or ["it is not a checkpoint torch.load(weights_only=True) can read"])[0].rstrip(".")
        raise ValueError(f"{path}: refused to load ({reason}); seqgan-gym loads checkpoints with "
                         "weights_only=True and never runs code from a file") from e
    except Exception as e:
        raise ValueError(f"{path}: not a loadable seqgan-gym checkpoint ({type(e).__name__}: "
                         f"{' '.join(str(e).split())})") from e


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, cut by a cgroup v2 CPU quota
    (``cpu.max``, as containers set it) where there is one. ``os.cpu_count()`` sees neither."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def default_threads(cap: int = 16) -> int:
    """Torch threads for a run: every usable CPU, at most ``cap`` (these models are small: past a
    few threads a matmul gains little, and many threads spin against each other)."""
    return min(usable_cpus(), cap)
