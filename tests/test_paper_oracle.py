"""Finding and fetching the paper's oracle: search order, pinned hash, atomic cache, clear errors.

No test reaches the internet: downloads come from a local HTTP server or a file:// URL
(conftest.py points the default address at a closed local port and the cache at a temp folder).
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import torch

from seqgan_gym.data.paper_oracle import (
    HOME_ENV_VAR,
    ORACLE_ENV_VAR,
    PAPER_ORACLE_FILENAME,
    PAPER_ORACLE_SHA256,
    PAPER_ORACLE_URL,
    URL_ENV_VAR,
    OracleUnavailableError,
    fetch_paper_oracle,
    find_paper_oracle,
)
from seqgan_gym.data.shared import find_shared_data
from seqgan_gym.models.oracle import load_oracle
from seqgan_gym.run.cli import main


@pytest.fixture
def serve(tmp_path):
    """Serve a folder over HTTP on localhost; yields a function folder -> base URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.RequestHandlerClass.log_message = lambda *a: None
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_from_a_local_server_is_verified_cached_and_loads(serve, random_oracle_files, tmp_path):
    _, pkl, model = random_oracle_files
    url = serve(pkl.parent) + "/" + pkl.name
    cache = tmp_path / "cache"
    path = fetch_paper_oracle(url=url, sha256=_sha(pkl), cache=cache)
    assert path == cache / PAPER_ORACLE_FILENAME and path.read_bytes() == pkl.read_bytes()
    seqs = model.sample(16, rng=torch.Generator().manual_seed(0))
    assert torch.equal(load_oracle(path, seq_len=6).log_prob(seqs), model.log_prob(seqs))
    assert sorted(p.name for p in cache.iterdir()) == [PAPER_ORACLE_FILENAME]  # no temp files left


def test_tampered_download_is_refused_and_nothing_is_stored(serve, random_oracle_files, tmp_path):
    _, pkl, _ = random_oracle_files
    good_sha = _sha(pkl)
    data = bytearray(pkl.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the middle of an array
    served = tmp_path / "served"
    served.mkdir()
    (served / PAPER_ORACLE_FILENAME).write_bytes(bytes(data))
    url = serve(served) + "/" + PAPER_ORACLE_FILENAME
    cache = tmp_path / "cache"
    with pytest.raises(OracleUnavailableError) as info:
        fetch_paper_oracle(url=url, sha256=good_sha, cache=cache)
    message = str(info.value)
    assert "\n" not in message and f"expected {good_sha}" in message and url in message
    assert PAPER_ORACLE_URL in message and str(cache / PAPER_ORACLE_FILENAME) in message
    assert "--oracle random" in message
    assert not cache.exists() or not any(cache.iterdir()), "a refused download wrote something"


def test_file_url_works(random_oracle_files, tmp_path):
    _, pkl, _ = random_oracle_files
    path = fetch_paper_oracle(url=pkl.resolve().as_uri(), sha256=_sha(pkl), cache=tmp_path / "c")
    assert path.read_bytes() == pkl.read_bytes()


def test_offline_error_names_url_cache_and_random_oracle(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGAN_GYM_NO_SHARED", "1")
    monkeypatch.setenv(HOME_ENV_VAR, str(tmp_path / "home"))
    with pytest.raises(OracleUnavailableError) as info:
        find_paper_oracle()  # conftest: the URL is a closed local port
    message = str(info.value)
    assert "download from http://127.0.0.1:9/" in message and "failed" in message
    assert PAPER_ORACLE_URL in message and str(tmp_path / "home" / PAPER_ORACLE_FILENAME) in message
    assert "--oracle random" in message and "fetch-oracle --from" in message
    with pytest.raises(OracleUnavailableError, match="downloading is off"):
        find_paper_oracle(download=False)


def test_search_order_explicit_path_then_env_var(random_oracle_files, monkeypatch, tmp_path):
    npz, pkl, _ = random_oracle_files
    monkeypatch.setenv(ORACLE_ENV_VAR, str(npz))
    assert find_paper_oracle(pkl) == pkl  # an explicit path wins
    assert find_paper_oracle() == npz  # then the environment variable, before shared/ or the cache
    monkeypatch.setenv(ORACLE_ENV_VAR, str(tmp_path / "missing.pkl"))
    with pytest.raises(FileNotFoundError, match=f"missing.pkl \\(from \\${ORACLE_ENV_VAR}\\) not found"):
        find_paper_oracle()
    with pytest.raises(FileNotFoundError, match="nope.pkl not found"):
        find_paper_oracle(tmp_path / "nope.pkl")


def test_cache_is_used_only_with_the_pinned_hash(monkeypatch, tmp_path, random_oracle_files):
    import seqgan_gym.data.paper_oracle as paper_oracle

    monkeypatch.setenv("SEQGAN_GYM_NO_SHARED", "1")
    monkeypatch.setenv(HOME_ENV_VAR, str(tmp_path))
    pkl = random_oracle_files[1]
    cached = tmp_path / PAPER_ORACLE_FILENAME
    cached.write_bytes(pkl.read_bytes())
    monkeypatch.setattr(paper_oracle, "PAPER_ORACLE_SHA256", _sha(pkl))  # pretend it is the paper's
    assert find_paper_oracle(download=False) == cached  # found in the cache, no download
    data = bytearray(pkl.read_bytes())
    data[-10] ^= 0x01
    cached.write_bytes(bytes(data))  # the cached file changed since: not used
    with pytest.raises(OracleUnavailableError):
        find_paper_oracle(download=False)


@pytest.fixture
def authors_file():
    path = find_shared_data(Path("shared") / "data" / "oracle" / PAPER_ORACLE_FILENAME)
    if path is None:
        pytest.skip("needs the authors' target_params_py3.pkl (shared/data is not above this checkout)")
    return path


def test_first_use_fetches_the_authors_file_into_the_cache(authors_file, serve, monkeypatch, tmp_path):
    """The whole path a new user meets: nothing local, download, hash, cache; then the cache is used."""
    url = serve(authors_file.parent) + "/" + PAPER_ORACLE_FILENAME
    monkeypatch.setenv(URL_ENV_VAR, url)
    monkeypatch.setenv(HOME_ENV_VAR, str(tmp_path))
    monkeypatch.setenv("SEQGAN_GYM_NO_SHARED", "1")
    path = find_paper_oracle()
    assert path == tmp_path / PAPER_ORACLE_FILENAME and _sha(path) == PAPER_ORACLE_SHA256
    monkeypatch.setenv(URL_ENV_VAR, "http://127.0.0.1:9/gone")
    assert find_paper_oracle() == path  # second use: from the cache, no download
    assert load_oracle(path).vocab_size == 5000


def test_fetch_oracle_command_imports_a_copy_and_refuses_a_tampered_one(authors_file, tmp_path, monkeypatch,
                                                                         capsys):
    monkeypatch.setenv(HOME_ENV_VAR, str(tmp_path / "home"))
    bad = tmp_path / "tampered.pkl"
    data = bytearray(authors_file.read_bytes())
    data[-100] ^= 0x01
    bad.write_bytes(bytes(data))
    assert main(["fetch-oracle", "--from", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused and nothing was stored" in err
    assert not (tmp_path / "home" / PAPER_ORACLE_FILENAME).exists()
    assert main(["fetch-oracle", "--from", str(authors_file)]) == 0
    assert _sha(tmp_path / "home" / PAPER_ORACLE_FILENAME) == PAPER_ORACLE_SHA256


def test_fetch_oracle_command_refuses_a_foreign_file_without_shared(random_oracle_files, tmp_path,
                                                                    monkeypatch, capsys):
    monkeypatch.setenv(HOME_ENV_VAR, str(tmp_path / "home"))
    assert main(["fetch-oracle", "--from", str(random_oracle_files[1])]) == 2
    assert f"expected {PAPER_ORACLE_SHA256}" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()
