"""Real corpora end to end: EOS semantics, the text environments, the oracle-free experiment."""

from __future__ import annotations

import csv
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import sacrebleu
import torch
import torch.nn.functional as F
from references import rollout_rewards_reference

import seqgan_gym  # noqa: F401  (registers the environments)
from seqgan_gym.config import fit_to_data, get_preset
from seqgan_gym.data.corpus import EOS, load_corpus, load_text_corpus
from seqgan_gym.envs import CORPUS_ENV_IDS, SeqGANTextEnv, SeqGANTextVectorEnv
from seqgan_gym.evaluation.metrics import bleu
from seqgan_gym.experiment.log import RunLog
from seqgan_gym.experiment.setup import build_setup, evaluate, new_generator, pretrain_generator, with_config
from seqgan_gym.models.likelihood import sequence_nll
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.saving import load_language_model, save_language_model
from seqgan_gym.rewards.reward_models import BleuReward, RewardModel
from seqgan_gym.rewards.rollout import RolloutPolicy, rollout_rewards
from seqgan_gym.run.cli import main as cli_main
from seqgan_gym.training.updates import mle_loss, scheduled_sampling_loss

WORDS = "a b c d e f g h".split()


@pytest.fixture
def corpus_file(tmp_path):
    """A tiny variable-length corpus: 200 lines of 2..6 words from an 8-word vocabulary, with
    structure (each word is followed by the next one) so that MLE has something to learn."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(200):
        start, length = int(rng.integers(0, 8)), int(rng.integers(2, 7))
        lines.append(" ".join(WORDS[(start + i) % 8] for i in range(length)))
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def eos_model(seed=0, vocab=10, seq_len=7) -> LSTMLanguageModel:
    rng = torch.Generator().manual_seed(seed)
    return LSTMLanguageModel(vocab, seq_len, 8, 8, eos_token=EOS).init_normal_(1.0, rng)


# ------------------------------------------------------------------------------- the generator
def test_sampling_ends_at_eos_and_keeps_the_prefix_distribution():
    model = eos_model()
    free = LSTMLanguageModel(10, 7, 8, 8)
    free.load_state_dict(model.state_dict())
    with_eos = model.sample(2000, rng=torch.Generator().manual_seed(1))
    without = free.sample(2000, rng=torch.Generator().manual_seed(1))
    assert (without == EOS).any() and ((without == EOS).cumsum(1) > 0).any()
    for row, raw in zip(with_eos.tolist(), without.tolist()):
        if EOS in raw:  # up to the first EOS the same draws; EOS afterwards
            k = raw.index(EOS)
            assert row[: k + 1] == raw[: k + 1] and all(t == EOS for t in row[k:])
        else:
            assert row == raw


def test_log_prob_nll_and_mle_loss_count_positions_up_to_the_first_eos():
    model = eos_model(seed=2)
    seqs = torch.tensor([[3, 4, 0, 5, 6, 0, 7], [3, 4, 5, 6, 7, 8, 9], [0, 2, 2, 2, 2, 2, 2]])
    logp_all = torch.log_softmax(model.logits(seqs), -1).gather(2, seqs[..., None])[..., 0]
    keep = torch.tensor([[1, 1, 1, 0, 0, 0, 0], [1] * 7, [1, 0, 0, 0, 0, 0, 0]], dtype=torch.bool)
    torch.testing.assert_close(model.log_prob(seqs), logp_all * keep)
    # slow reference: one cross-entropy term per counted position
    terms = [-logp_all[b, t].item() for b in range(3) for t in range(7) if keep[b, t]]
    assert math.isclose(sequence_nll(model, seqs), sum(terms) / len(terms), rel_tol=1e-5)
    assert math.isclose(mle_loss(model, seqs).item(), sum(terms) / len(terms), rel_tol=1e-5)
    assert math.isclose(scheduled_sampling_loss(model, seqs, 0.0, None).item(), sum(terms) / len(terms),
                        rel_tol=1e-5)
    # without an eos_token every position counts, as before
    free = LSTMLanguageModel(10, 7, 8, 8)
    free.load_state_dict(model.state_dict())
    full = F.cross_entropy(free.logits(seqs).flatten(0, 1), seqs.flatten()).item()
    assert math.isclose(sequence_nll(free, seqs), full, rel_tol=1e-5)
    assert not math.isclose(full, sum(terms) / len(terms), rel_tol=1e-3)


def test_checkpoint_keeps_eos_token(tmp_path):
    model = eos_model()
    save_language_model(model, tmp_path / "g.pt")
    assert load_language_model(tmp_path / "g.pt").eos_token == EOS
    with pytest.raises(ValueError, match="eos_token"):
        LSTMLanguageModel(10, 7, eos_token=10)


# ------------------------------------------------------------------------------- rewards
class Recorder(RewardModel):
    """Scores a sequence by its number of non-EOS tokens and remembers what it was asked."""

    vocab_size, seq_len = None, None

    def __init__(self):
        self.seen = []

    def _score(self, sequences):
        self.seen.append(sequences.clone())
        return (sequences != EOS).sum(1).float()


def test_rollout_completions_end_at_eos_and_match_the_slow_reference():
    policy = RolloutPolicy(eos_model(seed=4), update_rate=0.8)
    seqs = policy.model.sample(6, rng=torch.Generator().manual_seed(0))
    recorder = Recorder()
    fast = rollout_rewards(seqs, policy, recorder, 4, torch.Generator().manual_seed(5))
    for batch in recorder.seen:
        assert torch.equal(batch, policy.model.end_at_eos(batch))  # nothing after an EOS
    slow = rollout_rewards_reference(seqs, policy, Recorder(), 4, torch.Generator().manual_seed(5))
    torch.testing.assert_close(fast, slow)
    # once a sequence has ended every completion is the sequence itself: Q = its length
    lengths = (seqs != EOS).sum(1).float()
    for b in range(6):
        ended = (seqs[b] == EOS).nonzero()
        if len(ended):
            assert torch.all(fast[b, int(ended[0]):] == lengths[b])


def test_bleu_reward_reads_up_to_eos_and_equals_sacrebleu():
    refs = torch.tensor([[3, 4, 5, 6, 0, 0], [3, 4, 7, 0, 0, 0], [8, 9, 3, 4, 5, 0]])
    hyps = torch.tensor([[3, 4, 5, 0, 9, 9], [8, 9, 3, 4, 0, 0]])
    reward = BleuReward(refs, eos_token=EOS)
    ref_text = [" ".join(map(str, r[: r.index(0)])) for r in refs.tolist()]
    metric = sacrebleu.metrics.BLEU(tokenize="none", smooth_method="floor", smooth_value=0.1,
                                    effective_order=False)
    for hyp, got in zip(hyps.tolist(), reward.score(hyps).tolist()):
        text = " ".join(map(str, hyp[: hyp.index(0)]))
        assert math.isclose(got, metric.sentence_score(text, ref_text).score / 100, abs_tol=1e-6)
    # melodies: 0 is a rest, a real token (eos_token=None reads every position)
    assert bleu([[0, 0, 5, 6]], [[0, 0, 5, 6]], 2, eos_token=None)["bleu"] == pytest.approx(1.0)
    assert bleu([[0, 0, 5, 6]], [[7, 0, 5, 6]], 2, eos_token=0)["bleu"] == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------------------- environments
def test_text_env_forces_eos_after_eos_and_decodes(corpus_file):
    env = gym.make("SeqGAN-Text-v0", corpus=str(corpus_file), n_rollouts=2, render_mode="ansi",
                   reward_model="untrained")
    core = env.unwrapped
    vocab = core.corpus.vocab
    assert env.action_space.n == len(vocab) and env.observation_space.shape == (core.corpus.seq_len,)
    assert not hasattr(core, "oracle") and core.rollout_policy.model.eos_token == EOS
    env.reset(seed=0)
    a, b = vocab.index["a"], vocab.index["b"]
    rewards = []
    for action in [a, b, EOS, a, b, a, b][: core.corpus.seq_len]:
        obs, _, terminated, truncated, info = env.step(action)
        rewards.append(info["q_value"])
    assert obs[:3].tolist() == [a, b, EOS] and (obs[3:7] == EOS).all()
    assert env.render().startswith("a b")
    # after EOS the sequence is finished: every step's MC reward is D of the same sequence
    assert len(set(np.round(rewards[2:], 6))) == 1
    assert terminated and not truncated
    env.reset()
    with pytest.raises(ValueError, match="out of range"):
        env.step(len(vocab))
    with pytest.raises(ValueError, match="a real corpus has no oracle"):
        SeqGANTextEnv(corpus=str(corpus_file), reward_model="oracle")
    for name, value in (("vocab_size", 10), ("eos_token", None), ("references", [[1, 2]])):
        with pytest.raises(TypeError, match=f"takes {name} from its corpus"):
            SeqGANTextEnv(corpus=str(corpus_file), reward_model="bleu", **{name: value})


def test_registered_corpus_ids_and_vector_env(corpus_file):
    assert set(CORPUS_ENV_IDS) >= {"SeqGAN-Text-v0", "SeqGAN-Quatrains-v0", "SeqGAN-COCO-v0"}
    env = gym.make("SeqGAN-COCO-v0", intermediate_reward="terminal", reward_model="untrained")
    assert env.action_space.n > 4000 and env.unwrapped.corpus.name == "coco"
    envs = gym.make_vec("SeqGAN-Text-v0", num_envs=3, corpus=str(corpus_file), n_rollouts=2,
                        reward_model="bleu", rollout_policy="untrained")
    corpus = envs.unwrapped.corpus
    assert isinstance(envs.reward_model, BleuReward) and envs.reward_model.eos_token == EOS
    refs = corpus.train[:50]
    assert torch.equal(envs.reward_model.score(refs), BleuReward(corpus.train, eos_token=EOS).score(refs))
    assert isinstance(envs.unwrapped, SeqGANTextVectorEnv)
    envs.reset(seed=1)
    obs = None
    for t in range(envs.unwrapped.core.seq_len):
        obs, rewards, terminated, _, infos = envs.step(np.array([EOS if t == 1 else 2, 3, 2]))
        assert np.all((0 <= infos["q_value"]) & (infos["q_value"] <= 1))
        assert np.all((-1 <= rewards) & (rewards <= 1))
    final = np.stack(infos["final_obs"])
    assert terminated.all() and (final[0, 1:] == EOS).all() and (final[1] == 3).all()


def test_sb3_actor_keeps_the_generators_eos_token(corpus_file):
    from seqgan_gym.agents import SeqGANSB3VecEnv, make_sb3_agent

    corpus = load_text_corpus(corpus_file)
    generator = LSTMLanguageModel(corpus.vocab_size, corpus.seq_len, eos_token=EOS)
    env = SeqGANTextVectorEnv(num_envs=4, corpus=corpus, n_rollouts=2, reward_model="untrained",
                              rollout_policy=RolloutPolicy(generator))
    agent = make_sb3_agent("ppo", SeqGANSB3VecEnv(env), generator, seed=0)
    actor = agent.policy.generator
    assert actor.eos_token == EOS
    samples = actor.sample(200, rng=torch.Generator().manual_seed(0))
    assert torch.equal(samples, actor.end_at_eos(samples)) and (samples == EOS).any()


def test_rollout_policy_must_share_the_eos_token(corpus_file):
    corpus = load_text_corpus(corpus_file)
    wrong = RolloutPolicy(LSTMLanguageModel(corpus.vocab_size, corpus.seq_len))
    with pytest.raises(ValueError, match="eos_token"):
        SeqGANTextEnv(corpus=corpus, reward_model="bleu", rollout_policy=wrong)


def test_load_corpus_names_and_paths(corpus_file, tmp_path):
    assert load_corpus(corpus_file).split["how"].startswith("seeded random split")
    (tmp_path / "given").mkdir()
    (tmp_path / "given" / "train.txt").write_text("a b\nb c\n")
    (tmp_path / "given" / "test.txt").write_text("a c\n")
    given = load_corpus(tmp_path / "given")
    assert given.split["how"] == "as given" and len(given.test) == 1
    with pytest.raises(FileNotFoundError, match="neither a bundled corpus"):
        load_corpus(tmp_path / "missing.txt")
    quatrains = load_corpus("quatrains")
    assert quatrains.seq_len == 25 and len(quatrains.train) + len(quatrains.test) == 16394


# ------------------------------------------------------------------------------- the experiment
def tiny_cfg(corpus_file, **changes):
    cfg = get_preset("smoke").override([f"data={corpus_file}", "emb_dim=16", "hidden_dim=16",
                                        "eval_samples=200", "eval_bleu_order=2"])
    for k, v in changes.items():
        setattr(cfg, k, v)
    return cfg


def test_mle_on_a_corpus_raises_bleu_and_lowers_nll_test(corpus_file, tmp_path):
    setup = build_setup(tiny_cfg(corpus_file, mle_epochs=30, eval_every=30, gen_lr=0.02))
    assert setup.oracle is None and setup.cfg.vocab_size == 10 and setup.eos_token == EOS
    generator = new_generator(setup)
    before = evaluate(setup, generator, setup.rng("evaluation"))
    log = RunLog(tmp_path / "run", tensorboard=False)
    after = pretrain_generator(setup, generator, log, progress=False)
    log.close()
    assert set(after) >= {"nll_test", "bleu", "self_bleu"} and "nll_oracle" not in after
    assert after["nll_test"] < before["nll_test"] - 0.5
    assert after["bleu"] > before["bleu"] + 0.1


def test_cli_trains_seqgan_on_a_corpus(corpus_file, tmp_path):
    run = tmp_path / "run"
    code = cli_main(["train", "--preset", "smoke", "--data", str(corpus_file), "--run-dir", str(run),
                     "--no-progress", "--set", "adv_iterations=2", "--set", "eval_every=1",
                     "--set", "eval_samples=100", "--set", "num_envs=4", "--set", "n_rollouts=2"])
    assert code == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["data"] == str(corpus_file) and summary["oracle_floor"] is None
    assert {"bleu_mle", "bleu_adv", "self_bleu_adv", "nll_test_adv"} <= set(summary)
    decoded = (run / "samples_decoded.txt").read_text().splitlines()
    assert len(decoded) == 100 and set(" ".join(decoded).split()) <= set(WORDS) | {"<unk>"}
    assert json.loads((run / "corpus_split.json").read_text())["n_test"] == 20
    # a synthetic-experiment checkpoint (no EOS) is refused for a corpus run
    other = LSTMLanguageModel(10, summary_seq_len(run), 32, 32)
    save_language_model(other, tmp_path / "g.pt")
    assert cli_main(["train", "--preset", "smoke", "--data", str(corpus_file), "--run-dir",
                     str(tmp_path / "run2"), "--generator-checkpoint", str(tmp_path / "g.pt"),
                     "--no-progress"]) == 2


def summary_seq_len(run) -> int:
    return json.loads((run / "config.json").read_text())["config"]["seq_len"]


def test_corpus_valid_carves_a_seeded_validation_split_from_train(corpus_file):
    corpus = load_corpus(str(corpus_file))  # 180 train, 20 test
    setup = build_setup(tiny_cfg(corpus_file, corpus_valid=30))
    data = setup.data
    assert data.valid.shape == (30, corpus.seq_len) and len(data.train) == 150
    assert setup.cfg.n_train == 150 and torch.equal(data.test, corpus.test)  # test untouched
    split = data.split
    assert (split["n_train"], split["n_train_before_valid"], split["n_valid"]) == (150, 180, 30)
    rows = data.split["valid_rows"]
    assert len(set(rows)) == 30 and rows == sorted(rows)
    kept = [i for i in range(180) if i not in set(rows)]
    assert torch.equal(data.valid, corpus.train[rows]) and torch.equal(data.train, corpus.train[kept])
    assert torch.equal(data.train_lengths, corpus.train_lengths[kept])
    again = build_setup(tiny_cfg(corpus_file, corpus_valid=30)).data
    assert again.split["valid_rows"] == rows  # seeded by split_seed
    assert build_setup(tiny_cfg(corpus_file, corpus_valid=30, split_seed=1)).data.split["valid_rows"] != rows
    assert build_setup(tiny_cfg(corpus_file)).data.valid is None  # none unless asked
    with pytest.raises(ValueError, match="corpus_valid must be in"):
        build_setup(tiny_cfg(corpus_file, corpus_valid=180))
    with pytest.raises(ValueError, match="corpus_valid is for corpora"):
        get_preset("smoke").override(["corpus_valid=10"]).validate()
    with pytest.raises(ValueError, match="Nottingham"):
        get_preset("smoke").override(["data=nottingham", "corpus_valid=10"]).validate()
    with pytest.raises(ValueError, match="Nottingham"):
        get_preset("smoke").override(["data=nottingham", "mle_select=best"]).validate()
    # the cpu preset's density ratio stays on a corpus given a validation split, else becomes the CNN
    cpu = get_preset("cpu")
    with_valid = [f"data={corpus_file}", "corpus_valid=30"]
    assert cpu.override(fit_to_data(cpu, with_valid)).dis_form == "density_ratio"
    assert cpu.override(fit_to_data(cpu, [f"data={corpus_file}"])).dis_form == "cnn"
    # a setup is not reused under another corpus_valid
    with pytest.raises(ValueError, match="corpus_valid differs"):
        with_config(setup, tiny_cfg(corpus_file, corpus_valid=0, n_train=150))


def test_mle_select_best_and_d_signal_on_a_corpus_use_the_validation_split(corpus_file, tmp_path):
    with pytest.raises(ValueError, match="set corpus_valid"):
        tiny_cfg(corpus_file, mle_select="best").validate()
    with pytest.raises(ValueError, match="set corpus_valid"):
        tiny_cfg(corpus_file, dis_form="density_ratio").validate()
    run = tmp_path / "run"
    code = cli_main(["train", "--preset", "smoke", "--data", str(corpus_file), "--run-dir", str(run),
                     "--no-progress", "--set", "corpus_valid=40", "--set", "mle_select=best",
                     "--set", "mle_epochs=6", "--set", "eval_every=2", "--set", "adv_iterations=2",
                     "--set", "eval_samples=100", "--set", "num_envs=4", "--set", "n_rollouts=2",
                     "--set", "dis_form=density_ratio", "--set", "density_ratio_alpha=0.5",
                     "--set", "d_signal_samples=40"])
    assert code == 0
    best = torch.load(run / "checkpoints" / "generator_mle_best.pt", weights_only=True)
    assert best["hparams"]["eos_token"] == EOS and math.isfinite(best["extra"]["nll_valid"])
    split = json.loads((run / "corpus_split.json").read_text())
    assert split["n_valid"] == 40 and len(split["valid_rows"]) == 40
    with open(run / "metrics.csv") as f:
        metrics = list(csv.DictReader(f))
    assert any(r["phase"] == "mle_best" for r in metrics)
    aucs = [float(r["d_heldout_auc"]) for r in metrics if r.get("d_heldout_auc")]
    assert aucs and all(0.0 <= a <= 1.0 for a in aucs)


def test_d_heldout_auc_reads_a_corpus_validation_split_else_its_test_split(corpus_file, monkeypatch):
    import seqgan_gym.experiment.setup as experiment
    seen = []
    monkeypatch.setattr(experiment, "discriminator_signal", lambda d, real, fake, oracle: seen.append(real))
    for corpus_valid, dis_form in ((25, "cnn"), (0, "cnn"), (25, "density_ratio")):
        setup = build_setup(tiny_cfg(corpus_file, corpus_valid=corpus_valid, d_signal_samples=1000,
                                     dis_form=dis_form))
        experiment.measure_discriminator(setup, object(), new_generator(setup), torch.Generator())
        # the density ratio is fitted on the validation split: it is scored on the test split
        expected = setup.data.valid if corpus_valid and dis_form == "cnn" else setup.data.test
        assert torch.equal(seen[-1], expected)
