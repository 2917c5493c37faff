"""The oracle: the paper's "true" data distribution for the synthetic experiment.

The oracle is an :class:`~seqgan_gym.models.lstm.LSTMLanguageModel` (V = 5000, T = 20, embedding and hidden
size 32) whose parameters are all drawn from N(0, 1). The paper's own oracle is published by the
authors as ``save/target_params_py3.pkl`` in github.com/LantaoYu/SeqGAN (no licence is stated, so
this project does not ship it; pass its path). Two formats load:

* ``.npz`` with the 15 arrays by name (``embedding, Wi, Ui, bi, Wf, Uf, bf, Wog, Uog, bog, Wc, Uc,
  bc, Wo, bo``);
* the authors' pickle: a list of those 15 float32 arrays in that order. A pickle is untrusted input:
  it is read with a restricted unpickler that admits only numpy arrays in a list; any other object
  is refused before it is constructed.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from seqgan_gym.models.lstm import LSTMLanguageModel, paper_array_shapes
from seqgan_gym.utils import atomic_write_bytes

PAPER_VOCAB_SIZE = 5000
PAPER_SEQ_LEN = 20
PAPER_EMB_DIM = 32
PAPER_HIDDEN_DIM = 32


class OracleFormatError(ValueError):
    """The oracle file is corrupt, of the wrong format, or holds something other than arrays."""


class _ArrayListUnpickler(pickle.Unpickler):
    """Unpickler that can build numpy arrays and nothing else.

    ``find_class`` is the only way a pickle can reach code; we answer it for the three globals a
    pickled ndarray needs and refuse every other name, so no foreign callable ever runs.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) not in self._ALLOWED:
            raise OracleFormatError(
                f"refusing to unpickle {module}.{name}: an oracle pickle may only contain a list "
                "of numpy arrays"
            )
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.empty(0))[0]  # numpy's own _reconstruct, any version
        return getattr(np, name)


def load_pickle_arrays(path: str | Path) -> list[np.ndarray]:
    """Read the authors' pickle (a list of float arrays) safely. Raises :class:`OracleFormatError`."""
    data = Path(path).read_bytes()
    try:
        obj = _ArrayListUnpickler(io.BytesIO(data)).load()
    except OracleFormatError:
        raise
    except Exception as e:  # truncated or garbled bytes
        raise OracleFormatError(f"{path}: not a readable oracle pickle ({type(e).__name__}: {e})") from e
    if not isinstance(obj, list) or not all(isinstance(a, np.ndarray) for a in obj):
        raise OracleFormatError(f"{path}: expected a list of numpy arrays, got {type(obj).__name__}")
    for i, a in enumerate(obj):
        if a.dtype.kind != "f":
            raise OracleFormatError(f"{path}: array {i} has dtype {a.dtype}, expected floating point")
    return obj


def load_npz_arrays(path: str | Path) -> list[np.ndarray]:
    """Read the 15 named arrays from an ``.npz`` (``allow_pickle=False``), in the paper's order."""
    names = list(paper_array_shapes(1, 1, 1))
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [n for n in names if n not in z.files]
            if missing:
                raise OracleFormatError(f"{path}: missing arrays {missing}; expected keys {names}")
            return [z[n] for n in names]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        if isinstance(e, OracleFormatError):
            raise
        raise OracleFormatError(f"{path}: not a readable .npz oracle ({type(e).__name__}: {e})") from e


def load_oracle(path: str | Path, seq_len: int = PAPER_SEQ_LEN) -> LSTMLanguageModel:
    """Load an oracle from ``.npz`` or the authors' ``.pkl``; sizes are inferred from the arrays.

    Shapes are validated against the paper's layout and the error says what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"oracle file {path} not found. The paper's oracle is save/target_params_py3.pkl in "
            "github.com/LantaoYu/SeqGAN; pass its path, or use a random oracle."
        )
    arrays = load_npz_arrays(path) if path.suffix == ".npz" else load_pickle_arrays(path)
    if len(arrays) != 15:
        raise OracleFormatError(f"{path}: expected 15 parameter arrays, got {len(arrays)}")
    if arrays[0].ndim != 2 or arrays[1].ndim != 2:
        raise OracleFormatError(
            f"{path}: expected embedding (V, E) and Wi (E, H) first, got shapes "
            f"{arrays[0].shape} and {arrays[1].shape}"
        )
    V, E = arrays[0].shape
    H = arrays[1].shape[1]
    oracle = LSTMLanguageModel(V, seq_len, emb_dim=E, hidden_dim=H)
    try:
        oracle.load_paper_arrays(arrays)
    except ValueError as e:
        raise OracleFormatError(f"{path}: {e}") from e
    return oracle.requires_grad_(False).eval()


def random_oracle(
    seed: int,
    vocab_size: int = PAPER_VOCAB_SIZE,
    seq_len: int = PAPER_SEQ_LEN,
    emb_dim: int = PAPER_EMB_DIM,
    hidden_dim: int = PAPER_HIDDEN_DIM,
) -> LSTMLanguageModel:
    """A fresh oracle with every parameter drawn from N(0, 1), as the paper draws its own."""
    rng = torch.Generator().manual_seed(seed)
    oracle = LSTMLanguageModel(vocab_size, seq_len, emb_dim=emb_dim, hidden_dim=hidden_dim)
    return oracle.init_normal_(1.0, rng=rng).requires_grad_(False).eval()


def save_oracle_npz(oracle: LSTMLanguageModel, path: str | Path) -> None:
    """Write the oracle's 15 arrays as a named ``.npz`` (atomically)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: v.numpy() for k, v in oracle.paper_arrays().items()})
    atomic_write_bytes(path, buf.getvalue())
