"""Faults a run must survive, each with the exact line it gets (issue 33).

* a kill anywhere, resumed without --threads: the run's own thread count, the same bytes;
* ``--overwrite`` only under the run directory's lock, after the new set-up succeeded;
* ``preset`` is not a field;
* bad fields, up front and in ``config.json`` read back on resume, in one line naming the field;
* damaged run files (``metrics.csv``, ``summary.json``, ``resume.pt``, a generator checkpoint) in
  one line naming the file;
* a second Ctrl-C, and OS errors that name their path;
* a corpus's lines longer than ``max_seq_len`` left out and counted; NFC and NFD text alike;
* a sweep checks each trial as ``train`` does, data files and checkpoints included, before Ray.

Signals and kills land at points the test waits for (a row written, a file present), never after
a sleep. The slow part (real processes, killed and resumed) is the first test; the rest run
in-process on a run stopped after its MLE phase.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runs import default_ctrl_c, logged_rows, outcome, run_env, train_command

from seqgan_gym.run.cli import main

# small enough for seconds, long enough that a kill lands mid-phase with evaluations after it
SMALL = ["--preset", "smoke", "--seed", "5", "--no-progress", "--no-estimate", "--set", "mle_epochs=2",
         "--set", "dis_pretrain_steps=2", "--set", "adv_iterations=4", "--set", "eval_every=2"]








def _wait_for(process: subprocess.Popen, ready, what: str) -> None:
    deadline = time.time() + 120
    while not ready():
        assert process.poll() is None, f"the run ended before {what}: {process.stderr.read()}"
        assert time.time() < deadline, f"no {what} after 120 s"
        time.sleep(0.01)




def _one_cpu() -> None:
    """In the child: one CPU, so that its default thread count (1) is not the run's (2)."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def _kill_at(command: list[str], run_dir: Path, row: str, **popen) -> None:
    """Start ``command`` and SIGKILL it once ``metrics.csv`` holds a row starting with ``row``."""
    process = subprocess.Popen(command, env=run_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, **popen)
    _wait_for(process, lambda: any(r.startswith(row) for r in logged_rows(run_dir)), f"row {row}")
    process.kill()
    process.communicate()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_a_run_killed_twice_resumes_with_its_own_thread_count_to_the_same_bytes(tmp_path):
    """Killed mid D pre-training, resumed on one CPU without --threads, killed again mid
    adversarial phase and resumed again: evaluations come after each resume, and everything
    matches the uninterrupted 2-thread run byte for byte (a resume on 1 thread does not)."""
    whole = tmp_path / "whole"
    subprocess.run(train_command(*SMALL, "--threads", "2", "--run-dir", str(whole)), env=run_env(),
                   check=True,
                   capture_output=True)
    run = tmp_path / "run"
    _kill_at(train_command(*SMALL, "--threads", "2", "--run-dir", str(run)), run, "dis_pretrain,1,")
    resume = train_command("--resume", str(run), "--no-progress")
    _kill_at(resume, run, "adversarial,1,", preexec_fn=_one_cpu)
    done = subprocess.run(resume, env=run_env(), capture_output=True, text=True, preexec_fn=_one_cpu)
    assert done.returncode == 0, done.stderr
    assert outcome(run) == outcome(whole)
    assert "note: the run used" not in done.stdout
    assert "[seqgan-gym] note: resuming with the run's 2 threads on 1 CPU(s)" in done.stdout


# ------------------------------------------------------------------------------------- --overwrite
def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory) -> Path:
    """A completed smoke ``pretrain`` run (one MLE epoch)."""
    run = tmp_path_factory.mktemp("completed") / "run"
    assert main(["pretrain", "--preset", "smoke", "--threads", "1", "--no-progress", "--set", "mle_epochs=1",
                 "--run-dir", str(run)]) == 0
    return run


def test_overwrite_of_a_directory_another_process_holds_is_refused_before_anything_is_touched(
        tmp_path, completed_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(completed_run, run)
    before = _snapshot(run)
    capsys.readouterr()
    import fcntl

    with open(run / ".lock", "a") as lock:  # another process's set-up (its estimate, say) holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["train", *SMALL, "--threads", "1", "--run-dir", str(run), "--overwrite"]) == 2
    assert capsys.readouterr().err == (f"seqgan-gym: error: run directory {run} is being written by "
                                       "another process\n")
    assert _snapshot(run) == before


def test_overwrite_while_another_overwrite_runs_is_refused_and_nothing_mixes(tmp_path, completed_run, capsys):
    """Process A overwrites a completed run; once A has written its config, B's --overwrite and C's
    --resume are refused in one line; A, stopped by Ctrl-C, leaves only its own files."""
    run = tmp_path / "run"
    shutil.copytree(completed_run, run)
    a = subprocess.Popen(train_command(*SMALL, "--seed", "2", "--set", "adv_iterations=1000", "--threads",
                                       "1",
                                "--run-dir", str(run), "--overwrite"),
                         env={**run_env(), "PYTHONFAULTHANDLER": "1"}, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, preexec_fn=default_ctrl_c)

    def a_wrote_its_config() -> bool:
        try:
            return json.loads((run / "config.json").read_text())["config"]["seed"] == 2
        except (OSError, ValueError, KeyError):
            return False

    try:
        _wait_for(a, a_wrote_its_config, "A's config.json")
        capsys.readouterr()
        refused = f"seqgan-gym: error: run directory {run} is being written by another process\n"
        assert main(["train", *SMALL, "--seed", "3", "--threads", "1", "--run-dir", str(run),
                     "--overwrite"]) == 2
        assert capsys.readouterr().err == refused
        assert main(["train", "--resume", str(run), "--no-progress"]) == 2
        assert capsys.readouterr().err == refused
        _wait_for(a, lambda: len(logged_rows(run)) >= 1, "A's first row")
    finally:
        a.send_signal(signal.SIGINT)
        try:
            _, err = a.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # where it hangs: faulthandler's stacks on SIGABRT
            a.send_signal(signal.SIGABRT)
            pytest.fail(f"A did not exit within 60 s of Ctrl-C: {a.communicate(timeout=60)[1][-4000:]}")
    assert a.returncode == 130, err
    assert json.loads((run / "config.json").read_text())["config"]["seed"] == 2
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    assert logged_rows(run)[0].startswith("mle,0,") and not (run / "samples.txt").exists()


def test_overwrite_whose_set_up_fails_leaves_the_earlier_run_whole(tmp_path, completed_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(completed_run, run)
    before = _snapshot(run)
    wrong = tmp_path / "g.pt"  # a generator of another vocabulary: found out after the set-up
    from seqgan_gym.models.lstm import LSTMLanguageModel
    from seqgan_gym.models.saving import save_language_model

    save_language_model(LSTMLanguageModel(50, 10), wrong)
    capsys.readouterr()
    assert main(["train", *SMALL, "--threads", "1", "--run-dir", str(run), "--overwrite",
                 "--generator-checkpoint", str(wrong)]) == 2
    assert capsys.readouterr().err == ("seqgan-gym: error: generator checkpoint has V=50, T=10, emb_dim=32, "
                                       "hidden_dim=32; this run has V=200, T=10, emb_dim=32, hidden_dim=32\n")
    assert _snapshot(run) == before
    fresh = tmp_path / "fresh" / "run"  # a new directory whose set-up fails is not left behind
    assert main(["train", *SMALL, "--threads", "1", "--run-dir", str(fresh),
                 "--generator-checkpoint", str(wrong)]) == 2
    assert not fresh.exists()


def test_a_run_directory_that_cannot_be_made_fails_before_the_estimate(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", "--preset", "smoke", "--threads", "1", "--run-dir", str(blocker / "run")]) == 2
    out, err = capsys.readouterr()
    assert err == f"seqgan-gym: error: {blocker / 'run'}: Not a directory\n"
    assert "estimated wall time" not in out


# ------------------------------------------------------------------------------- fields up front
@pytest.mark.parametrize("args, line", [
    (["--set", "preset=paper"], "preset cannot be set as a field (it would change only the label): use "
                                "--preset paper (in a sweep spec, its top-level preset key)"),
    (["--set", "kl_coef=inf"], "kl_coef must be a finite number >= 0, got inf"),
    (["--set", "kl_target=nan"], "kl_target must be a finite number >= 0, got nan"),
    (["--set", "d_signal_samples=1"], "d_signal_samples must be 0 (off) or >= 2 (an AUC and a rank "
                                      "correlation need two sequences), got 1"),
    (["--set", "n_test=1"], "n_test must be >= 2 (D's held-out AUC and rank correlation need two held-out "
                            "sequences), got 1"),
    (["--seed", str(2**64)], "seed must be <= 9223372036854767 (the seeds derived from it must fit in 64 "
                             "bits), got 18446744073709551616"),
    (["--algo", "ppo", "--seed", "4294968"], "seed must be <= 4294967 with algo ppo (SB3 seeds numpy with "
                                             "1000 x seed + 4, which must be < 2**32), got 4294968"),
])
def test_bad_fields_are_refused_in_one_line_before_the_run_directory_exists(tmp_path, capsys, args, line):
    run = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--threads", "1", "--run-dir", str(run), *args]) == 2
    assert capsys.readouterr().err == f"seqgan-gym: error: {line}\n"
    assert not run.exists()


def test_a_sweep_configuration_cannot_set_the_preset(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text('preset = "smoke"\n[[configs]]\nname = "a"\npreset = "paper"\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"seqgan-gym: error: sweep spec {spec} configs[0]: preset is the spec's top-level key (one per "
        "sweep), not a field a configuration sets; put configurations of other presets in another sweep\n")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ a stopped run and its damaged files
@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A smoke train run stopped by Ctrl-C as its D pre-training began: resumable after MLE epoch 2
    (resume.pt's rows: mle 0, 1, 2)."""
    import seqgan_gym.experiment.setup as experiment

    run = tmp_path_factory.mktemp("stopped") / "run"
    argv = ["train", *SMALL, "--threads", "1", "--run-dir", str(run)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["seqgan-gym", *argv])

        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt

        patch.setattr(experiment, "pretrain_discriminator", interrupted)
        assert main(argv) == 130
    return run


def _resume_refused(stopped_run: Path, tmp_path: Path, capsys, damage) -> tuple[Path, str]:
    """Copy the stopped run, ``damage(run)`` it, resume it in-process: exit 2; returns the stderr."""
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    damage(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    return run, capsys.readouterr().err


def _edit_config(**changes):
    def damage(run: Path) -> None:
        recorded = json.loads((run / "config.json").read_text())
        recorded["config"].update(changes)
        (run / "config.json").write_text(json.dumps(recorded))
    return damage


@pytest.mark.parametrize("changes, line", [
    ({"batch_size": "abc"}, "batch_size must be an int, got 'abc'"),
    ({"device": "banana"}, "device must be auto, cpu, cuda, cuda:N, ...; got 'banana'"),
    ({"kl_coef": float("inf")}, "kl_coef must be a finite number >= 0, got inf"),
    ({"vocab_size": 300}, "vocab_size is 300, but the run's resume.pt was written with 200 (config.json was "
                          "changed after the run started)"),
    ({"adv_iterations": 5}, "adv_iterations is 5, but the run's resume.pt was written with 4 (config.json "
                            "was changed after the run started)"),
])
def test_resume_checks_every_field_read_back_from_config_json(stopped_run, tmp_path, capsys, changes, line):
    run, err = _resume_refused(stopped_run, tmp_path, capsys, _edit_config(**changes))
    assert err == f"seqgan-gym: error: {run / 'config.json'}: {line}\n"


def _write(name: str, data: str | bytes):
    def damage(run: Path) -> None:
        path = run / name
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return damage


def _metrics_line(number: int, text: str):
    def damage(run: Path) -> None:
        lines = (run / "metrics.csv").read_text().splitlines(keepends=True)
        lines[number - 1] = text + "\n"
        (run / "metrics.csv").write_text("".join(lines))
    return damage


def test_a_config_json_that_is_not_a_runs_is_refused_by_resume_and_eval(stopped_run, tmp_path, capsys):
    run, err = _resume_refused(stopped_run, tmp_path, capsys, _write("config.json", "[1, 2]"))
    assert err == (f"seqgan-gym: error: --resume: {run} is not a seqgan-gym train run directory (no readable "
                   "config.json of a train run)\n")
    assert main(["eval", str(run)]) == 2
    assert capsys.readouterr().err == (f"seqgan-gym: error: {run / 'config.json'}: not a seqgan-gym run's "
                                       "config.json (no \"config\" object)\n")


@pytest.mark.parametrize("damage, line", [
    (_metrics_line(3, "garbage"), "metrics.csv line 3: phase 'garbage' is not one a run writes (mle, "
                                  "mle_best, dis_pretrain, adversarial)"),
    (_metrics_line(3, "bogus,99" + "," * 14), "metrics.csv line 3: phase 'bogus' is not one a run writes "
                                              "(mle, mle_best, dis_pretrain, adversarial)"),
    (_metrics_line(3, "mle,99" + "," * 14), "metrics.csv line 3: mle step 99 is not one this run writes "
                                            "(0 to 2)"),
    (_metrics_line(3, "mle,2" + "," * 14), "metrics.csv line 4: mle step 2 after mle step 2: rows out of "
                                           "order or repeated"),
    (_metrics_line(3, "mle,1,x" + "," * 13), "metrics.csv line 3: wall_s 'x' is not a number"),
    (_metrics_line(3, "mle,1"), "metrics.csv line 3: not a row of 16 cells"),
    (_metrics_line(1, "a,b,c"), "metrics.csv: the header is not seqgan-gym's (expected "
                                "phase,step,wall_s,...; got 'a,b,c')"),
    (_metrics_line(4, ""), "metrics.csv has 2 rows, fewer than the 3 its resumable checkpoint recorded"),
    (_write("summary.json", "{not json"), "summary.json: not valid JSON (Expecting property name enclosed in "
                                          "double quotes: line 1 column 2 (char 1))"),
    (_write("checkpoints/resume.pt", bytes(range(256)) * 8), "checkpoints/resume.pt: corrupt or not a resume "
                                                             "file (not a torch checkpoint archive)"),
])
def test_damaged_run_files_get_one_line_naming_the_file(stopped_run, tmp_path, capsys, damage, line):
    run, err = _resume_refused(stopped_run, tmp_path, capsys, damage)
    assert err == f"seqgan-gym: error: {run}/{line}\n"


def test_a_truncated_resume_file_reads_as_corrupt(stopped_run, tmp_path, capsys):
    def truncate(run: Path) -> None:
        path = run / "checkpoints" / "resume.pt"
        path.write_bytes(path.read_bytes()[:-100])

    run, err = _resume_refused(stopped_run, tmp_path, capsys, truncate)
    assert err == (f"seqgan-gym: error: {run}/checkpoints/resume.pt: corrupt or not a resume file (not a "
                   "torch checkpoint archive)\n")


# ------------------------------------------------------------------- a second Ctrl-C, OS errors
def test_a_second_ctrl_c_still_leaves_summary_json_and_the_resume_hint(tmp_path, capsys, monkeypatch):
    """The second SIGINT arrives while the first is being handled (as summary.json is prepared)."""
    import seqgan_gym.experiment.setup as experiment
    import seqgan_gym.run.lifecycle as lifecycle

    run = tmp_path / "run"
    argv = ["train", *SMALL, "--threads", "1", "--run-dir", str(run)]
    monkeypatch.setattr(sys, "argv", ["seqgan-gym", *argv])

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    resume_point = lifecycle.resume_point

    def second_ctrl_c(run_dir):
        os.kill(os.getpid(), signal.SIGINT)
        return resume_point(run_dir)

    monkeypatch.setattr(experiment, "pretrain_discriminator", interrupted)
    monkeypatch.setattr(lifecycle, "resume_point", second_ctrl_c)
    handler = signal.getsignal(signal.SIGINT)
    try:
        assert main(argv) == 130
    finally:
        signal.signal(signal.SIGINT, handler)
    hint = f"its last checkpoint is after mle step 2; continue it with `seqgan-gym train --resume {run}`"
    assert capsys.readouterr().err == f"seqgan-gym: interrupted (Ctrl-C) in {run}: {hint}\n"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["resume_from"] == "mle step 2"
    assert signal.getsignal(signal.SIGINT) is handler


def test_after_a_ctrl_c_a_second_is_ignored_and_a_third_stops_at_once(monkeypatch):
    """Should the clean-up after a Ctrl-C hang, the user still has a way out."""
    import seqgan_gym.run.lifecycle as lifecycle

    exits = []
    monkeypatch.setattr(lifecycle.os, "_exit", exits.append)
    handler = lifecycle.LaterCtrlC()
    handler(signal.SIGINT, None)
    assert exits == []
    handler(signal.SIGINT, None)
    assert exits == [130]


def test_a_write_past_the_file_size_limit_names_its_file_and_leaves_a_resumable_run(tmp_path):
    """``ulimit -f`` (1 MB): the paper's D (``dis_width=1``; the smoke preset's is smaller) makes
    the first resumable state with D ~17 MB, which cannot be written. The estimate's own timed
    writes fail first: the run goes on without an estimate."""
    import resource

    def one_megabyte() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    run = tmp_path / "run"
    with_estimate = [arg for arg in SMALL if arg != "--no-estimate"]
    done = subprocess.run(train_command(*with_estimate, "--set", "dis_width=1", "--threads", "1",
                                        "--run-dir", str(run)),
                          env=run_env(),
                          capture_output=True, text=True, preexec_fn=one_megabyte)
    assert done.returncode == 2
    assert "[seqgan-gym] no time estimate: " in done.stdout and "File too large" in done.stdout
    assert done.stderr.splitlines()[-1] == f"seqgan-gym: error: {run}/checkpoints/resume.pt: File too large"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["resume_from"] == "mle step 2"
    assert summary["reason"] == f"OSError: [Errno 27] File too large: '{run}/checkpoints/resume.pt'"


def test_a_run_directory_name_that_is_not_utf8_is_refused_before_it_exists(tmp_path, capsys):
    run = Path(os.fsdecode(bytes(tmp_path) + b"/run\xff"))
    assert main(["train", "--preset", "smoke", "--threads", "1", "--run-dir", str(run)]) == 2
    assert capsys.readouterr().err == (f"seqgan-gym: error: run directory {str(run)!a}: its path is not "
                                       "valid UTF-8 (TensorBoard cannot write there); choose another name\n")
    assert not run.exists()


# --------------------------------------------------------------------------- damaged checkpoints
@pytest.mark.parametrize("change, line", [
    (lambda c: c.pop("state_dict"), "no state_dict of tensors (a damaged or foreign checkpoint)"),
    (lambda c: c["hparams"].update(dropout=0.1), "its hparams must be exactly vocab_size, seq_len, emb_dim, "
     "hidden_dim, start_token, eos_token; got ['dropout', 'emb_dim', 'eos_token', 'hidden_dim', 'seq_len', "
     "'start_token', 'vocab_size']"),
    (lambda c: c["hparams"].update(vocab_size=10**12), "checkpoint does not match its own hyper-parameters "
                                                       "(tensor embedding.weight)"),
    (lambda c: c["hparams"].update(seq_len="10"), "hparam seq_len must be an integer, got '10'"),
])
def test_eval_of_a_damaged_generator_checkpoint_is_one_line(tmp_path, capsys, change, line):
    import torch

    from seqgan_gym.models.lstm import LSTMLanguageModel
    from seqgan_gym.models.saving import save_language_model

    path = tmp_path / "g.pt"
    save_language_model(LSTMLanguageModel(200, 10), path)
    checkpoint = torch.load(path, weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, path)
    assert main(["eval", str(path), "--preset", "smoke", "--threads", "1"]) == 2
    assert capsys.readouterr().err == f"seqgan-gym: error: {path}: {line}\n"


# ------------------------------------------------------------------------- corpora: length and NFC
def test_a_corpus_leaves_out_lines_longer_than_max_seq_len_and_says_how_many(tmp_path, capsys):
    from seqgan_gym.data.corpus import load_text_corpus

    lines = [f"w{i % 7} w{i % 5} w{i % 3}" for i in range(40)]
    lines[9] = " ".join(["x"] * 100_000)
    lines[20] = " ".join(["y"] * 201)
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("\n".join(lines) + "\n")
    corpus = load_text_corpus(corpus_file)
    assert corpus.seq_len == 4 and len(corpus.train) + len(corpus.test) == 38
    assert corpus.split["too_long"] == {"max_seq_len": 200, "train_file_lines": [10, 21]}
    assert load_text_corpus(corpus_file, max_seq_len=None).seq_len == 100_001
    run = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--data", str(corpus_file), "--threads", "1", "--no-estimate",
                 "--set", "mle_epochs=0", "--set", "adv_iterations=0", "--set", "dis_pretrain_steps=0",
                 "--set", "n_valid=0", "--run-dir", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert ("2 line(s) longer than max_seq_len 200 tokens left out (line(s) 10, 21; listed in "
            "corpus_split.json; --set max_seq_len=N changes the limit)") in out
    assert main(["train", "--preset", "smoke", "--data", str(corpus_file), "--set", "max_seq_len=0",
                 "--run-dir", str(tmp_path / "other")]) == 2
    assert capsys.readouterr().err == "seqgan-gym: error: max_seq_len must be >= 1, got 0\n"


def test_text_in_nfc_and_nfd_scores_and_reads_as_the_same_tokens(tmp_path, capsys):
    import unicodedata

    from seqgan_gym.data.corpus import read_sequences

    text = "le café était très animé ce soir\nune pâtisserie crémeuse à la fenêtre\n"
    composed, decomposed = tmp_path / "nfc.txt", tmp_path / "nfd.txt"
    composed.write_text(unicodedata.normalize("NFC", text))
    decomposed.write_text(unicodedata.normalize("NFD", text))
    assert composed.read_bytes() != decomposed.read_bytes()
    assert read_sequences(decomposed) == read_sequences(composed)
    assert main(["score", "--hyp", str(decomposed), "--ref", str(composed), "--n", "4"]) == 0
    assert "| 4 | 1.000 | - |" in capsys.readouterr().out


# ------------------------------------------------------------------------ a sweep checks as train does
@pytest.mark.parametrize("spec, line", [
    ('[[configs]]\nname = "a"\ndata = "{tmp}/empty.txt"\n',
     "sweep spec {spec}, configuration 'a': {tmp}/empty.txt holds no sequence (one sequence a line "
     "expected)"),
    ('generator_checkpoint = "{tmp}/empty.txt"\n[[configs]]\nname = "a"\nk = 1\n',
     "sweep spec {spec}, configuration 'a': {tmp}/empty.txt: corrupt, or not a loadable checkpoint (not a "
     "torch checkpoint archive)"),
    ('[[configs]]\nname = "a"\ndis_form = "density_ratio"\n[set]\nmle_epochs = 0\n',
     "sweep spec {spec}, configuration 'a': dis_form density_ratio needs MLE epochs (its reference is the "
     "best one) or a --generator-checkpoint with generator_mle_best.pt beside it (--set dis_form=cnn for the "
     "paper's D)"),
])
def test_a_sweep_checks_data_files_and_checkpoints_before_ray(tmp_path, capsys, spec, line):
    (tmp_path / "empty.txt").write_text("")
    path = tmp_path / "spec.toml"
    path.write_text('preset = "smoke"\n' + spec.format(tmp=tmp_path))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == "seqgan-gym: error: " + line.format(spec=path, tmp=tmp_path) + "\n"
    assert not (tmp_path / "out").exists()
