"""The wall-time estimate: its arithmetic against a hand count (stubbed unit costs, no timing), the
run clock, the presets command and train's estimate line, bad input."""

import dataclasses
import json
import math

import pytest
import torch

import seqgan_gym.run.estimate as estimate
from seqgan_gym.config import PRESETS, ExperimentConfig, get_preset
from seqgan_gym.run.cli import main
from seqgan_gym.run.estimate import RunClock, RunEstimate, UnitCosts, estimate_run, format_seconds

# distinct unit costs, so that every term of the hand count below is visible
UNITS = UnitCosts(sample=1, score=2, mle_batch=5, g_update=7, d_batch=11, d_score=13, loglik=17,
                  checkpoint_per_mb=1, checkpoint_mb={"mle": 0.5, "dis_pretrain": 2, "adversarial": 3})


def _tiny(**changes) -> ExperimentConfig:
    cfg = ExperimentConfig(preset="tiny", oracle="random", vocab_size=20, seq_len=5, n_train=10, n_test=4,
                           n_valid=2, batch_size=4, eval_every=2, eval_samples=3, mle_epochs=3,
                           dis_pretrain_steps=2, dis_pretrain_epochs=2, dis_negatives=6, adv_iterations=3,
                           g_steps=2, d_steps=2, k=1, d_signal_samples=2)
    return dataclasses.replace(cfg, **changes)


def test_estimate_equals_a_hand_count():
    got = estimate_run(_tiny(), UNITS)
    setup = (10 + 4 + 2) * 1 + 4 * 2  # sample train + test + valid from the oracle; score the test set
    evaluation = 4 * 2 + 3 * (1 + 2)  # NLL_test; NLL_oracle = sample 3 + score them
    signal = 2 * 1 + 2 * 2 * 13 + 2 * 17  # sample n = 2, D scores 2n, oracle log-likelihood of n
    mle_epoch = 3 * 5 + 2 * 2 + 0.5  # ceil(10 / 4) batches, NLL on n_valid, the checkpoint
    mle = 3 * mle_epoch + 3 * evaluation  # evaluations at epochs 0, 2 and 3

    def d_update(epochs):
        return 6 * 1 + epochs * math.ceil((10 + 6) / 4) * 11  # negatives, then D epochs

    dis_pretrain = 2 * (d_update(2) + 2)
    iteration = 2 * 7 + 2 * d_update(1) + 3  # g-steps, d-steps, checkpoint
    adversarial = 3 * iteration + 3 * (evaluation + signal)  # evaluations at 0, 2, 3
    assert got.phases == {"setup": setup, "mle": mle, "dis_pretrain": dis_pretrain,
                          "adversarial": adversarial}
    assert (setup, mle, dis_pretrain, adversarial) == (24, 109.5, 192, 666)
    assert got.total == 991.5
    assert got.steps == {"mle": 3, "dis_pretrain": 2, "adversarial": 3}
    assert got.per_iteration == {"generator": 14, "discriminator": 100}


def test_estimate_without_d_and_from_a_pretrained_generator():
    bleu = estimate_run(_tiny(reward="bleu"), UNITS)
    assert bleu.phases["dis_pretrain"] == 0  # no D to pre-train, no d-steps, no D signal
    assert bleu.phases["adversarial"] == 3 * (2 * 7 + 3) + 3 * 17
    assert estimate_run(_tiny(), UNITS, pretrained=True).phases["mle"] == 17  # one evaluation
    # a learned intermediate reward is pre-trained and retrained on the negatives even without D
    learned = estimate_run(_tiny(reward="bleu", intermediate_reward="critic"),
                           dataclasses.replace(UNITS, strategy_fit=0.5))
    assert learned.phases["dis_pretrain"] == 2 * (6 + 2 * 16 * 0.5 + 2)
    # every adv iteration evaluated: one more evaluation than iterations
    every = estimate_run(_tiny(eval_every=1), UNITS)
    assert every.phases["adversarial"] == 3 * 117 + 4 * (17 + 88)


def test_a_density_ratio_d_fits_on_the_validation_set():
    cnn = estimate_run(_tiny(), UNITS)
    ratio = estimate_run(_tiny(dis_form="density_ratio", density_ratio_alpha=0.5), UNITS)
    # D's real data is n_valid = 2 sequences instead of n_train = 10: ceil((2 + 6) / 4) = 2 D batches
    # per epoch instead of 4
    assert ratio.phases["dis_pretrain"] == 2 * ((6 + 2 * 2 * 11) + 2)
    assert cnn.phases["dis_pretrain"] - ratio.phases["dis_pretrain"] == 2 * 2 * 2 * 11
    assert ratio.per_iteration["discriminator"] == 2 * (6 + 2 * 11)


def test_calibration_times_a_density_ratio_d():
    cfg = dataclasses.replace(get_preset("smoke"), dis_form="density_ratio", density_ratio_alpha=0.5)
    units = estimate.calibrate(cfg)
    assert math.isfinite(units.d_batch) and units.d_batch > 0 and units.d_score > 0
    # the D timed is the ratio's (three scalars: its checkpoint adds nothing to G's), not the CNN's
    added = units.checkpoint_mb["dis_pretrain"] - units.checkpoint_mb["mle"]
    cnn = estimate.calibrate(get_preset("smoke"))
    assert added < 1e-3 < cnn.checkpoint_mb["dis_pretrain"] - cnn.checkpoint_mb["mle"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="corpus"):
        estimate_run(_tiny(data="quatrains"), UNITS)
    with pytest.raises(ValueError, match="eval_every"):
        estimate_run(_tiny(eval_every=0), UNITS)


def test_run_clock_prices_the_rest_of_a_phase_at_the_measured_rate():
    est = RunEstimate(phases={"setup": 5, "mle": 100, "dis_pretrain": 40, "adversarial": 200},
                      steps={"mle": 10, "dis_pretrain": 4, "adversarial": 20}, units=UNITS,
                      per_iteration={"generator": 0, "discriminator": 0})
    clock = RunClock(est, start=1000.0)
    assert clock.remaining("mle", 0, now=1005.0) == 100 + 40 + 200  # at the estimate's rate
    assert clock.remaining("mle", 2, now=1035.0) == 8 * 15 + 40 + 200  # measured: 15 s per epoch
    assert clock.remaining("dis_pretrain", 0, now=1200.0) == 40 + 200  # a new phase starts afresh
    assert clock.remaining("dis_pretrain", 1, now=1205.0) == 3 * 5 + 200
    assert clock.remaining("adversarial", 20, now=2000.0) == 0
    resumed = RunClock(est, start=0.0)  # a resumed run: its first step here prices at the estimate
    assert resumed.remaining("adversarial", 12, now=50.0) == 8 * 10
    assert format_seconds(3725.4) == "1:02:05" and format_seconds(65) == "1:05"


@pytest.fixture
def stub_calibration(monkeypatch):
    """Unit costs without timing anything (the presets' and train's output, quickly)."""
    monkeypatch.setattr(estimate, "calibrate", lambda cfg, **kw: UNITS)


def test_presets_prints_an_estimate_line_per_preset(stub_calibration, capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if "estimated wall time on this machine" in line]
    assert len(lines) == len(PRESETS)
    for name, line in zip(PRESETS, lines):
        assert f"~{format_seconds(estimate_run(get_preset(name), UNITS).total)}:" in line
    assert main(["presets", "--no-estimate"]) == 0
    assert "estimated" not in capsys.readouterr().out


def test_presets_bad_options_get_one_line_errors(capsys):
    assert main(["presets", "--threads", "0"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err
    assert main(["presets", "--device", "warp-drive"]) == 2
    assert "device must be" in capsys.readouterr().err


def test_train_prints_its_estimate_and_records_it(stub_calibration, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--preset", "smoke", "--no-progress", "--set", "mle_epochs=1",
            "--set", "adv_iterations=1"]
    assert main([*args, "--run-dir", str(run)]) == 0
    assert "estimated wall time on this machine" in capsys.readouterr().out
    recorded = json.loads((run / "config.json").read_text())["estimate_s"]
    cfg = get_preset("smoke").override(["mle_epochs=1", "adv_iterations=1"])
    assert recorded["total"] == pytest.approx(estimate_run(cfg, UNITS).total)
    assert main([*args, "--run-dir", str(tmp_path / "quiet"), "--no-estimate"]) == 0
    assert "estimated" not in capsys.readouterr().out
    assert json.loads((tmp_path / "quiet" / "config.json").read_text())["estimate_s"] is None


def test_calibration_measures_every_unit_and_caches_it():
    cfg = get_preset("smoke")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    units = estimate.calibrate(cfg)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's random state is untouched
    for name in ("sample", "score", "mle_batch", "g_update", "d_batch", "d_score", "loglik",
                 "checkpoint_per_mb"):
        value = getattr(units, name)
        assert math.isfinite(value) and value > 0, name
    assert units.checkpoint_mb["adversarial"] > units.checkpoint_mb["mle"] > 0
    assert estimate.calibrate(cfg) is units  # cached for the process
