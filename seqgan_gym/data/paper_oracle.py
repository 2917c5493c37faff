"""The paper's oracle file: where it is looked for, and how it is fetched and verified.

The authors publish their oracle as ``save/target_params_py3.pkl`` in github.com/LantaoYu/SeqGAN
(no licence is stated, so this project does not ship it). :func:`find_paper_oracle` looks for it,
in order:

1. an explicit path (``--oracle-path``);
2. the ``SEQGAN_GYM_ORACLE`` environment variable;
3. ``shared/data/oracle/`` above the current folder or the installed package (this project's
   checkout);
4. the user cache, ``$SEQGAN_GYM_HOME`` (default ``~/.cache/seqgan_gym``);

and, when it is in none of them, downloads it once (:func:`fetch_paper_oracle`): the bytes must have
the pinned SHA-256 :data:`PAPER_ORACLE_SHA256` before anything is written, and they are stored in
the cache atomically. The file is then read like any other oracle pickle, by the restricted
unpickler of :mod:`seqgan_gym.models.oracle`. This download is the one network access of the package.

``seqgan-gym fetch-oracle [--from FILE]`` does the same on demand; with ``--from`` it imports a
copy downloaded by hand, checking the same hash.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from seqgan_gym.data.shared import find_shared_data
from seqgan_gym.utils import atomic_write_bytes

PAPER_ORACLE_URL = "https://raw.githubusercontent.com/LantaoYu/SeqGAN/master/save/target_params_py3.pkl"
"""Where the authors publish the oracle. ``SEQGAN_GYM_ORACLE_URL`` replaces it (a mirror, or a
local server in tests)."""
PAPER_ORACLE_SHA256 = "5ac794a695dd6e0eb2bb689f3dfda55e4e0053e8c0399e6242630a95f1e60e8a"
"""SHA-256 of the authors' ``target_params_py3.pkl`` (LantaoYu/SeqGAN @ e2b52fb)."""
PAPER_ORACLE_FILENAME = "target_params_py3.pkl"

ORACLE_ENV_VAR = "SEQGAN_GYM_ORACLE"
HOME_ENV_VAR = "SEQGAN_GYM_HOME"
URL_ENV_VAR = "SEQGAN_GYM_ORACLE_URL"

_SHARED_ORACLE_FOLDER = Path("shared") / "data" / "oracle"
_MAX_BYTES = 16 * 2**20  # the file is 1.3 MB; refuse to read more than this from the network


class OracleUnavailableError(FileNotFoundError):
    """The paper's oracle is not on this machine and could not be fetched (offline, or bad hash).
    ``reason`` is why, without the advice the message adds."""

    def __init__(self, reason: str, target: Path | None = None) -> None:
        target = target or cache_dir() / PAPER_ORACLE_FILENAME
        super().__init__(
            f"the paper's oracle is unavailable: {reason}. Its source: {PAPER_ORACLE_URL}; its cache: "
            f"{target}. Download it by hand and run `seqgan-gym fetch-oracle --from FILE`, pass "
            f"--oracle-path or ${ORACLE_ENV_VAR}, or train on a random oracle with --oracle random")
        self.reason = reason


def cache_dir() -> Path:
    """``$SEQGAN_GYM_HOME``, default ``~/.cache/seqgan_gym``: where the fetched oracle is kept."""
    return Path(os.environ.get(HOME_ENV_VAR) or Path.home() / ".cache" / "seqgan_gym").expanduser()


def oracle_url() -> str:
    """The download address: ``$SEQGAN_GYM_ORACLE_URL`` or :data:`PAPER_ORACLE_URL`."""
    return os.environ.get(URL_ENV_VAR) or PAPER_ORACLE_URL


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def find_paper_oracle(path: str | Path | None = None, download: bool = True) -> Path:
    """The path of the paper's oracle file, fetching it into the cache on first use.

    :param path: an explicit file; it must exist (no search, no download).
    :param download: when False, raise :class:`OracleUnavailableError` instead of downloading.
    :return: an existing ``.npz`` or ``.pkl`` file (read it with
        :func:`seqgan_gym.models.oracle.load_oracle`).
    """
    if path is not None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"oracle file {path} not found")
        return Path(path)
    if os.environ.get(ORACLE_ENV_VAR):
        env_path = Path(os.environ[ORACLE_ENV_VAR])
        if not env_path.is_file():
            raise FileNotFoundError(f"oracle file {env_path} (from ${ORACLE_ENV_VAR}) not found")
        return env_path
    for name in ("seqgan_paper_oracle.npz", PAPER_ORACLE_FILENAME):
        found = find_shared_data(_SHARED_ORACLE_FOLDER / name)
        if found is not None:
            return found
    cached = cache_dir() / PAPER_ORACLE_FILENAME
    if cached.is_file() and sha256_of(cached) == PAPER_ORACLE_SHA256:
        return cached
    if not download:
        raise OracleUnavailableError("it is not on this machine and downloading is off")
    return fetch_paper_oracle()


def fetch_paper_oracle(source: str | Path | None = None, url: str | None = None,
                       sha256: str = PAPER_ORACLE_SHA256, cache: str | Path | None = None,
                       timeout: float = 30.0) -> Path:
    """Download the oracle (or import a local copy), check its hash, store it in the cache.

    Nothing is written unless the bytes have the expected SHA-256.

    :param source: a local copy downloaded by hand; when None, download from ``url``.
    :param url: default :func:`oracle_url`; ``file://`` URLs work too.
    :param sha256: the expected hex digest (the authors' file by default).
    :param cache: the folder to store it in; default :func:`cache_dir`.
    :param timeout: seconds before a download gives up.
    :return: the cached file's path.
    """
    url = url or oracle_url()
    target = Path(cache) if cache is not None else cache_dir()
    target = target / PAPER_ORACLE_FILENAME
    if source is not None:
        origin = str(source)
        if not Path(source).is_file():
            raise FileNotFoundError(f"oracle file {source} not found")
        data = Path(source).read_bytes()
    else:
        origin = url
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = response.read(_MAX_BYTES + 1)
        except Exception as e:  # offline, DNS, HTTP error, timeout: all end the same way
            raise OracleUnavailableError(
                f"the download from {url} failed ({type(e).__name__}: {e})", target) from e
        if len(data) > _MAX_BYTES:
            raise OracleUnavailableError(f"{url} sent more than {_MAX_BYTES} bytes", target)
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise OracleUnavailableError(
            f"{origin} has SHA-256 {digest}, expected {sha256}; it was refused and nothing was "
            "stored", target)
    atomic_write_bytes(target, data)
    return target
