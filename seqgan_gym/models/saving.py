"""Saving and loading model checkpoints safely.

A checkpoint is a dict of plain Python values and tensors, written atomically with ``torch.save``
and read with ``torch.load(weights_only=True)``: loading never runs code from the file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from seqgan_gym.models.discriminator import Discriminator
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.utils import atomic_torch_save, safe_torch_load

FORMAT_VERSION = 1
LANGUAGE_MODEL_FORMAT = "seqgan_gym.lstm"
"""The ``format`` entry of a language-model file: a name of the file format, not a module path (files
written before the models moved to ``seqgan_gym.models`` carry it too)."""
DISCRIMINATOR_FORMAT = "seqgan_gym.discriminator"
"""The ``format`` entry of a discriminator file (a file-format name, as above)."""


def save_language_model(model: LSTMLanguageModel, path: str | Path, **extra) -> None:
    """Write ``model`` (generator, rollout policy or oracle) with its shape hyper-parameters."""
    atomic_torch_save(
        {
            "format": LANGUAGE_MODEL_FORMAT,
            "version": FORMAT_VERSION,
            "hparams": {
                "vocab_size": model.vocab_size,
                "seq_len": model.seq_len,
                "emb_dim": model.emb_dim,
                "hidden_dim": model.hidden_dim,
                "start_token": model.start_token,
                "eos_token": model.eos_token,
            },
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "extra": extra,
        },
        path,
    )


def _load(path: str | Path):
    """:func:`~seqgan_gym.utils.safe_torch_load`, after checking that the file is a torch archive at all
    (a random or truncated file: one line saying so)."""
    if Path(path).is_file() and not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: corrupt, or not a loadable checkpoint (not a torch checkpoint archive)")
    return safe_torch_load(path)


_LANGUAGE_MODEL_HPARAMS = ("vocab_size", "seq_len", "emb_dim", "hidden_dim", "start_token", "eos_token")


def load_language_model(path: str | Path, device: str = "cpu") -> LSTMLanguageModel:
    """Read a checkpoint written by :func:`save_language_model`; a foreign or damaged file is a
    one-line error naming it. The hyper-parameters and every tensor's shape are checked before
    any memory is allocated for the model (a claimed V = 10**12 allocates nothing)."""
    ckpt = _load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != LANGUAGE_MODEL_FORMAT:
        raise ValueError(f"{path}: not a seqgan-gym language-model checkpoint")
    hparams, state = ckpt.get("hparams"), ckpt.get("state_dict")
    if not isinstance(hparams, dict) or set(hparams) != set(_LANGUAGE_MODEL_HPARAMS):
        got = sorted(hparams) if isinstance(hparams, dict) else type(hparams).__name__
        raise ValueError(f"{path}: its hparams must be exactly {', '.join(_LANGUAGE_MODEL_HPARAMS)}; "
                         f"got {got}")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: no state_dict of tensors (a damaged or foreign checkpoint)")
    for name in _LANGUAGE_MODEL_HPARAMS:
        value = hparams[name]
        if not (type(value) is int or (value is None and name == "eos_token")):
            raise ValueError(f"{path}: hparam {name} must be an integer, got {value!r}")
    try:
        with torch.device("meta"):  # shapes only: nothing allocated
            shapes = {k: v.shape for k, v in LSTMLanguageModel(**hparams).state_dict().items()}
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    if {k: v.shape for k, v in state.items()} != shapes:
        wrong = sorted(set(shapes) ^ set(state)) or [k for k in shapes if state[k].shape != shapes[k]]
        raise ValueError(f"{path}: checkpoint does not match its own hyper-parameters (tensor {wrong[0]})")
    model = LSTMLanguageModel(**hparams)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{path}: checkpoint does not match its own hyper-parameters: {e}") from e
    return model.to(device)


_DISCRIMINATOR_HPARAMS = ("vocab_size", "seq_len", "emb_dim", "filter_sizes", "num_filters", "dropout",
                          "l2_reg_lambda")


def save_discriminator(discriminator, path: str | Path, **extra) -> None:
    """Write a :class:`~seqgan_gym.models.discriminator.Discriminator` with its constructor arguments."""
    hparams = {}
    for name in _DISCRIMINATOR_HPARAMS:
        value = getattr(discriminator, name)
        if name == "dropout":  # stored as the nn.Dropout module; keep its drop probability
            value = float(value.p)
        hparams[name] = [int(v) for v in value] if name in ("filter_sizes", "num_filters") else value
    atomic_torch_save(
        {"format": DISCRIMINATOR_FORMAT, "version": FORMAT_VERSION, "hparams": hparams,
         "state_dict": {k: v.detach().cpu() for k, v in discriminator.state_dict().items()},
         "extra": extra},
        path,
    )


def load_discriminator(path: str | Path, device: str = "cpu"):
    """Read a checkpoint written by :func:`save_discriminator`."""
    ckpt = _load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != DISCRIMINATOR_FORMAT:
        raise ValueError(f"{path}: not a seqgan-gym discriminator checkpoint")
    hp = dict(ckpt["hparams"])
    hp["filter_sizes"], hp["num_filters"] = tuple(hp["filter_sizes"]), tuple(hp["num_filters"])
    d = Discriminator(**hp)
    try:
        d.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise ValueError(f"{path}: checkpoint does not match its own hyper-parameters: {e}") from e
    return d.to(device)
