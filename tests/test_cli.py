import csv
import json
import os

import pytest
import torch

from seqgan_gym.models.discriminator import Discriminator
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.saving import (
    load_discriminator,
    load_language_model,
    save_discriminator,
    save_language_model,
)
from seqgan_gym.run.cli import main


def test_smoke_pretrain_writes_a_complete_run_directory(tmp_path):
    run = tmp_path / "run"
    rc = main(["pretrain", "--preset", "smoke", "--run-dir", str(run), "--no-progress",
               "--set", "mle_epochs=3", "--set", "eval_every=1"])
    assert rc == 0
    for name in ("config.json", "metrics.csv", "summary.json", "learning_curve.png", "samples.txt"):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    cfg = json.loads((run / "config.json").read_text())["config"]
    assert cfg["mle_epochs"] == 3 and cfg["preset"] == "smoke"
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    nll = [float(r["nll_oracle"]) for r in rows if r["nll_oracle"]]
    assert len(nll) == 4 and nll[-1] < nll[0]
    g = load_language_model(run / "checkpoints" / "generator_mle.pt")
    assert (g.vocab_size, g.seq_len) == (cfg["vocab_size"], cfg["seq_len"])
    lines = (run / "samples.txt").read_text().split("\n")
    assert len(lines[0].split()) == cfg["seq_len"]


def test_existing_run_directory_is_never_overwritten(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "precious.txt").write_text("keep me")
    rc = main(["pretrain", "--preset", "smoke", "--run-dir", str(run), "--no-progress"])
    assert rc == 2 and "already exists" in capsys.readouterr().err
    assert (run / "precious.txt").read_text() == "keep me"


def test_bad_arguments_get_clear_errors(tmp_path, capsys):
    assert main(["pretrain", "--oracle-path", str(tmp_path / "missing.pkl"),
                 "--run-dir", str(tmp_path / "r")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["pretrain", "--set", "mle_epochs=abc", "--run-dir", str(tmp_path / "r2")]) == 2
    assert "expects int" in capsys.readouterr().err
    assert main(["pretrain", "--set", "nonsense=1", "--run-dir", str(tmp_path / "r3")]) == 2
    assert "unknown config field" in capsys.readouterr().err


def test_checkpoints_round_trip_and_corrupt_files_are_refused(tmp_path):
    m = LSTMLanguageModel(30, 5).init_normal_(0.1, torch.Generator().manual_seed(0))
    save_language_model(m, tmp_path / "g.pt")
    back = load_language_model(tmp_path / "g.pt")
    seqs = torch.randint(0, 30, (4, 5))
    assert torch.equal(m.log_prob(seqs), back.log_prob(seqs))
    # the file-format names are those of the files 0.1 wrote before the models moved into
    # seqgan_gym.models: such files still load, and new files are the same bytes
    assert torch.load(tmp_path / "g.pt", weights_only=True)["format"] == "seqgan_gym.lstm"
    d = Discriminator(30, 5, emb_dim=4, filter_sizes=(2,), num_filters=(3,))
    save_discriminator(d, tmp_path / "d.pt")
    assert torch.load(tmp_path / "d.pt", weights_only=True)["format"] == "seqgan_gym.discriminator"
    assert load_discriminator(tmp_path / "d.pt").num_filters == d.num_filters
    (tmp_path / "bad.pt").write_bytes((tmp_path / "g.pt").read_bytes()[:100])
    with pytest.raises(ValueError, match="not a loadable"):
        load_language_model(tmp_path / "bad.pt")
    torch.save({"something": "else"}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a seqgan-gym"):
        load_language_model(tmp_path / "foreign.pt")


def test_smoke_train_runs_algorithm_1_end_to_end(tmp_path):
    run = tmp_path / "train"
    rc = main(["train", "--preset", "smoke", "--run-dir", str(run), "--no-progress",
               "--set", "adv_iterations=2", "--set", "eval_every=1"])
    assert rc == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    phases = [r["phase"] for r in rows]
    assert phases.count("dis_pretrain") == 1 and "mle" in phases
    adv = [r for r in rows if r["phase"] == "adversarial"]
    assert [int(r["step"]) for r in adv] == [0, 1, 2]
    assert all(r["nll_oracle"] for r in adv) and 0 <= float(adv[1]["final_score"]) <= 1
    assert adv[1]["d_loss"], "the D update of iteration 1 was not logged"
    for r in adv:  # D's signal, measured at every evaluation (256 held-out real vs 256 of G here)
        assert 0 <= float(r["d_heldout_auc"]) <= 1 and -1 <= float(r["d_oracle_spearman"]) <= 1
    for name in ("generator_mle.pt", "generator_adv.pt", "discriminator_pretrained.pt",
                 "discriminator_adv.pt"):
        assert (run / "checkpoints" / name).is_file(), name
    from seqgan_gym.models.saving import load_discriminator

    d = load_discriminator(run / "checkpoints" / "discriminator_adv.pt")
    assert d.prob_real(torch.zeros(2, 10, dtype=torch.long)).shape == (2,)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["adv_iterations"] == 2 and "nll_oracle_adv" in summary
    assert "NOT the paper's full schedule" in json.loads((run / "config.json").read_text())["schedule"]


def test_train_refuses_a_generator_checkpoint_of_another_vocabulary(tmp_path, capsys):
    m = LSTMLanguageModel(30, 10).init_normal_(0.1, torch.Generator().manual_seed(0))
    save_language_model(m, tmp_path / "g.pt")
    rc = main(["train", "--preset", "smoke", "--generator-checkpoint", str(tmp_path / "g.pt"),
               "--run-dir", str(tmp_path / "r"), "--no-progress"])
    assert rc == 2 and "V=30" in capsys.readouterr().err


def test_train_is_repeatable_with_the_same_seed(tmp_path):
    def run(name):
        rc = main(["train", "--preset", "smoke", "--run-dir", str(tmp_path / name), "--no-progress",
                   "--set", "adv_iterations=2", "--set", "mle_epochs=2"])
        assert rc == 0
        rows = list(csv.DictReader((tmp_path / name / "metrics.csv").open()))
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]

    assert run("a") == run("b")


@pytest.mark.parametrize("algo,reward", [("ppo", "discriminator"), ("a2c", "discriminator"),
                                         ("reinforce", "bleu"), ("reinforce", "oracle")])
def test_train_with_other_algorithms_and_rewards(tmp_path, algo, reward):
    run = tmp_path / "r"
    rc = main(["train", "--preset", "smoke", "--run-dir", str(run), "--no-progress", "--algo", algo,
               "--reward", reward, "--set", "adv_iterations=2", "--set", "mle_epochs=1",
               "--set", "eval_every=1"])
    assert rc == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    adv = [r for r in rows if r["phase"] == "adversarial"]
    assert [int(r["step"]) for r in adv] == [0, 1, 2] and all(r["nll_oracle"] for r in adv)
    assert all(r["final_score"] for r in adv[1:])
    has_d = reward == "discriminator"
    assert ("dis_pretrain" in [r["phase"] for r in rows]) == has_d
    assert (run / "checkpoints" / "discriminator_adv.pt").is_file() == has_d
    if has_d:
        assert all(r["d_loss"] for r in adv[1:])
    if reward == "bleu":
        assert all(0 <= float(r["final_score"]) <= 1 for r in adv[1:])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["algo"] == algo and summary["reward"] == reward
    if algo != "reinforce":
        assert (run / "sb3" / "progress.csv").read_text().count("\n") >= 2  # SB3's own logger


def test_ppo_train_is_repeatable_with_the_same_seed(tmp_path):
    def run(name):
        assert main(["train", "--preset", "smoke", "--run-dir", str(tmp_path / name), "--no-progress",
                     "--algo", "ppo", "--set", "adv_iterations=2", "--set", "mle_epochs=1"]) == 0
        rows = list(csv.DictReader((tmp_path / name / "metrics.csv").open()))
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]

    assert run("a") == run("b")


def test_quick_start_without_the_papers_oracle_falls_back_to_a_labelled_random_one(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEQGAN_GYM_NO_SHARED", "1")  # a bare clone: no shared/, empty cache, offline
    args = ["pretrain", "--preset", "smoke", "--oracle", "paper", "--no-progress", "--set", "mle_epochs=1"]
    assert main([*args, "--run-dir", str(tmp_path / "strict")]) == 2  # the default: an error
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the paper's oracle is unavailable" in err and "--oracle random" in err
    assert not (tmp_path / "strict").exists()
    run = tmp_path / "quick"
    assert main([*args, "--oracle-fallback", "random", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert "the paper's oracle is unavailable" in first and "FALLBACK" in first and "NOT comparable" in first
    config = json.loads((run / "config.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert config["config"]["oracle"] == "random" and config["oracle_file"] is None
    assert "random N(0,1) oracle" in config["oracle_fallback"]
    assert summary["oracle_fallback"] == config["oracle_fallback"]


def test_config_records_the_oracle_file_and_its_sha256(tmp_path, monkeypatch, random_oracle_files):
    import hashlib

    _, pkl, _ = random_oracle_files
    monkeypatch.setenv("SEQGAN_GYM_ORACLE", str(pkl))  # found automatically: not --oracle-path
    run = tmp_path / "run"
    assert main(["pretrain", "--preset", "smoke", "--oracle", "paper", "--set", "seq_len=6",
                 "--set", "mle_epochs=1", "--no-progress", "--run-dir", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["oracle_path"] is None and config["oracle_fallback"] is None
    assert config["oracle_file"] == {"path": str(pkl.resolve()),
                                     "sha256": hashlib.sha256(pkl.read_bytes()).hexdigest()}
    assert json.loads((run / "summary.json").read_text())["oracle_file"] == config["oracle_file"]


def test_eval_scores_a_run_directory_and_a_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", "--preset", "smoke", "--set", "mle_epochs=2", "--no-progress",
                 "--run-dir", str(run)]) == 0
    last = json.loads((run / "summary.json").read_text())
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    report = json.loads(capsys.readouterr().out.split("\n", 4)[-1])
    assert report["checkpoint"].endswith("generator_mle.pt")
    assert report["nll_test"] == pytest.approx(last["nll_test_mle"], abs=1e-9)  # same data, same G
    assert abs(report["nll_oracle"] - last["nll_oracle_mle"]) < 0.3  # other samples of the same G
    assert main(["eval", str(run / "checkpoints" / "generator_mle.pt"), "--temperature", "0.5"]) == 0
    cold = json.loads(capsys.readouterr().out.split("\n", 4)[-1])
    assert cold["temperature"] == 0.5 and cold["nll_test"] > report["nll_test"]
    assert main(["eval", str(run), "--temperature", "0"]) == 2
    assert "--temperature must be > 0" in capsys.readouterr().err
    lone = tmp_path / "lone.pt"
    lone.write_bytes((run / "checkpoints" / "generator_mle.pt").read_bytes())
    assert main(["eval", str(lone), "--preset", "smoke", "--set", "vocab_size=300"]) == 2
    assert "has V=200" in capsys.readouterr().err


def test_package_import_loads_no_torch_so_the_cli_sets_omp_first():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = ("import sys, os, seqgan_gym; assert 'torch' not in sys.modules; "
            "import seqgan_gym.run.cli; print(os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's choice is kept
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"


def test_score_command_prints_a_table_and_json(tmp_path, capsys):
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("a man rides a horse .\na dog runs on the beach .\n")
    ref.write_text("a man rides a horse .\na cat sleeps on a sofa .\n")
    assert main(["score", "--hyp", str(hyp), "--ref", str(ref), "--n", "2", "4", "--self-bleu"]) == 0
    out = capsys.readouterr().out
    table, rest = out.split("{", 1)
    assert "| 2 |" in table and "| 4 |" in table
    result = json.loads("{" + rest)
    assert [s["n"] for s in result["scores"]] == [2, 4] and result["n_hyp"] == 2
    assert result["scores"][0]["bleu"] > result["scores"][1]["bleu"]  # BLEU-2 >= BLEU-4, < 1 here
    assert main(["score", "--hyp", str(tmp_path / "none.txt"), "--ref", str(ref)]) == 2
    assert "none.txt" in capsys.readouterr().err


def test_train_with_the_density_ratio_discriminator(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--set", "dis_form=density_ratio", "--set", "mle_epochs=12",
                 "--set", "adv_iterations=2", "--set", "eval_every=1", "--run-dir", str(run),
                 "--no-progress"]) == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    valid = [float(r["nll_valid"]) for r in rows if r["phase"] == "mle" and r["nll_valid"]]
    assert len(valid) == 12
    best = load_language_model(run / "checkpoints" / "generator_mle_best.pt")
    assert torch.load(run / "checkpoints" / "generator_mle_best.pt", weights_only=True)["extra"][
        "nll_valid"] == pytest.approx(min(valid))
    assert best.vocab_size == 200
    adv = [r for r in rows if r["phase"] == "adversarial"]
    assert all(r["d_heldout_auc"] for r in adv)
    assert not (run / "checkpoints" / "discriminator_adv.pt").exists()  # no CNN D to save


def test_density_ratio_on_a_corpus_needs_a_validation_split(tmp_path, capsys):
    assert main(["train", "--data", "coco", "--set", "dis_form=density_ratio",
                 "--run-dir", str(tmp_path / "r")]) == 2
    assert "needs a validation split: set corpus_valid" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before any work


def test_mle_select_best_starts_from_the_best_validation_epoch(tmp_path):
    run = tmp_path / "run"
    # a large learning rate: the validation NLL turns up after a few epochs, so best != last
    assert main(["pretrain", "--preset", "smoke", "--set", "mle_select=best", "--set", "mle_epochs=8",
                 "--set", "gen_lr=0.05", "--set", "n_train=128", "--run-dir", str(run), "--no-progress"]) == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    valid = {int(r["step"]): float(r["nll_valid"]) for r in rows if r["phase"] == "mle" and r["nll_valid"]}
    best_epoch = min(valid, key=valid.get)
    selected = [r for r in rows if r["phase"] == "mle_best"]
    assert len(selected) == 1 and int(selected[0]["step"]) == best_epoch
    assert best_epoch < 8, "this test needs a run that overfits; best was the last epoch"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["nll_test_mle"] == pytest.approx(float(selected[0]["nll_test"]))
    g = load_language_model(run / "checkpoints" / "generator_mle_best.pt")
    from seqgan_gym.config import get_preset
    from seqgan_gym.evaluation.metrics import nll_test
    from seqgan_gym.experiment.setup import build_setup

    setup = build_setup(get_preset("smoke"))
    assert nll_test(g, setup.data.test) == pytest.approx(summary["nll_test_mle"], abs=1e-6)


@pytest.mark.parametrize("args, message", [
    (["--set", "grad_clip=-1"], "grad_clip must be a finite number > 0"),
    (["--set", "gen_lr=inf"], "gen_lr must be a finite number > 0"),
    (["--set", "dis_lr=nan"], "dis_lr must be a finite number > 0"),
    (["--seed", "-1"], "seed must be >= 0"),
    (["--set", "dis_negatives=0"], "dis_negatives must be >= 1"),
    (["--set", "dis_pretrain_epochs=0"], "dis_pretrain_epochs must be >= 1"),
    (["--device", "banana"], "device must be auto, cpu, cuda"),
    (["--threads", "-1"], "--threads must be >= 1"),
    (["--oracle-path", "x.pkl"], "--oracle-path is not used by this run"),  # smoke: a random oracle
    (["--oracle", "paper", "--set", "vocab_size=100"], "the paper's oracle fixes it"),
    (["--data", "coco", "--set", "seq_len=5"], "the corpus 'coco' fixes it"),
])
def test_bad_settings_are_refused_in_one_line_before_any_work(tmp_path, capsys, args, message):
    run = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--run-dir", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not run.exists()


def test_divergence_stops_the_run_and_summary_says_failed(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", "--preset", "smoke", "--set", "gen_lr=1e6", "--run-dir", str(run),
                 "--no-progress"]) == 2
    assert "mle step 1: nll_valid" in capsys.readouterr().err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "the run diverged" in summary["reason"]


def test_ctrl_c_exits_130_and_summary_says_interrupted(tmp_path, capsys, monkeypatch):
    import seqgan_gym.experiment.setup as experiment

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "pretrain_generator", interrupted)
    run = tmp_path / "run"
    assert main(["pretrain", "--preset", "smoke", "--run-dir", str(run), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    # the retry: refused without --overwrite, accepted with it
    assert main(["pretrain", "--preset", "smoke", "--run-dir", str(run), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["pretrain", "--preset", "smoke", "--run-dir", str(run), "--no-progress", "--overwrite",
                 "--set", "mle_epochs=1"]) == 0
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def test_overwrite_refuses_foreign_folders_and_runs_that_may_still_be_going(tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text("{}")
    (foreign / "notes.txt").write_text("keep me")
    assert main(["pretrain", "--preset", "smoke", "--run-dir", str(foreign), "--overwrite"]) == 2
    assert "not a seqgan-gym run directory" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"
    going = tmp_path / "going"
    going.mkdir()
    (going / "config.json").write_text(json.dumps({"command": [], "config": {}, "schedule": ""}))
    assert main(["pretrain", "--preset", "smoke", "--run-dir", str(going), "--overwrite"]) == 2
    assert "may still be going" in capsys.readouterr().err and (going / "config.json").exists()


def test_choices_that_need_mle_epochs_are_refused_up_front(tmp_path, capsys):
    g = LSTMLanguageModel(200, 10).init_normal_(0.1, torch.Generator().manual_seed(0))
    save_language_model(g, tmp_path / "g.pt")
    assert main(["train", "--preset", "smoke", "--generator-checkpoint", str(tmp_path / "g.pt"),
                 "--set", "mle_select=best", "--run-dir", str(tmp_path / "r1")]) == 2
    assert "with --generator-checkpoint there is none" in capsys.readouterr().err
    assert main(["train", "--preset", "smoke", "--generator-checkpoint", str(tmp_path / "g.pt"),
                 "--set", "dis_form=density_ratio", "--run-dir", str(tmp_path / "r2")]) == 2
    assert "generator_mle_best.pt beside --generator-checkpoint" in capsys.readouterr().err
    assert main(["train", "--preset", "smoke", "--set", "dis_form=density_ratio", "--set", "mle_epochs=0",
                 "--run-dir", str(tmp_path / "r3")]) == 2
    assert "needs MLE epochs" in capsys.readouterr().err
    assert main(["pretrain", "--preset", "smoke", "--set", "mle_select=best", "--set", "mle_epochs=0",
                 "--run-dir", str(tmp_path / "r4")]) == 2
    assert "needs mle_epochs >= 1" in capsys.readouterr().err
    assert not any((tmp_path / f"r{i}").exists() for i in range(1, 5))


def test_refused_checkpoint_message_is_whole_and_names_the_object(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo should-never-run",))

    torch.save({"state_dict": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError) as refused:
        load_language_model(tmp_path / "evil.pt")
    message = str(refused.value)
    assert "\n" not in message and "refused to load" in message and "system" in message
    assert "weights_only` set to `False`" not in message  # none of torch's advice to load it unsafely


def test_run_files_have_ordinary_modes_and_stale_temporaries_are_found(tmp_path):
    from seqgan_gym.utils import atomic_write_text, remove_stale_temporaries

    atomic_write_text(tmp_path / "a.json", "{}")
    (tmp_path / "b.txt").write_text("x")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == (tmp_path / "b.txt").stat().st_mode & 0o777
    (tmp_path / ".c.pt.abc123.tmp").write_bytes(b"partial")
    assert [p.name for p in remove_stale_temporaries(tmp_path)] == [".c.pt.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.txt"]
