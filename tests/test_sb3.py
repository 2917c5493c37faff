"""The stable-baselines3 adapter: VecEnv semantics, the generator-tied policy, PPO/A2C learning, callbacks."""

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy

from seqgan_gym.agents import (
    DiscriminatorUpdateCallback,
    GeneratorPolicy,
    PrefixLSTMExtractor,
    RolloutPolicyUpdateCallback,
    SeqGANSB3VecEnv,
    make_sb3_agent,
)
from seqgan_gym.envs import SeqGANVectorEnv
from seqgan_gym.evaluation.metrics import nll_oracle
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.oracle import random_oracle
from seqgan_gym.rewards.reward_models import OracleLikelihoodReward, RewardModel
from seqgan_gym.rewards.rollout import RolloutPolicy

V, T, B = 30, 5, 8


def _generator(seed=0, std=0.1, V=V, T=T):
    return LSTMLanguageModel(V, T).init_normal_(std, torch.Generator().manual_seed(seed))


def _env(generator, oracle, num_envs=B, mode="mc_rollout", **kw):
    beta = RolloutPolicy(generator, update_rate=0.8)
    reward = OracleLikelihoodReward(oracle)
    return SeqGANVectorEnv(num_envs=num_envs, vocab_size=oracle.vocab_size, seq_len=oracle.seq_len,
                           n_rollouts=2, intermediate_reward=mode, reward_model=reward,
                           rollout_policy=beta, device="cpu", **kw)


def _venv(generator, oracle, **kw):
    env = _env(generator, oracle, **kw)
    return SeqGANSB3VecEnv(env), env


@pytest.fixture
def oracle():
    return random_oracle(seed=1, vocab_size=V, seq_len=T)


def _episode(venv, seed, q_values=None):
    venv.seed(seed)
    obs = venv.reset()
    actions = np.random.default_rng(seed).integers(0, V, (T, B))
    rewards = []
    for t in range(T):
        assert obs.shape == (B, T) and (obs[:, t:] == -1).all() and (obs[:, :t] == actions[:t].T).all()
        obs, r, dones, infos = venv.step(actions[t])
        if q_values is not None:
            q_values.append([info["q_value"] for info in infos])
        rewards.append(r)
        assert r.shape == (B,) and r.dtype == np.float32
        assert dones.all() == (t == T - 1) and dones.any() == (t == T - 1)
    return actions, np.array(rewards), obs, infos


def test_vecenv_episode_semantics(oracle):
    venv, env = _venv(_generator(), oracle)
    assert venv.num_envs == B and venv.observation_space.shape == (T,) and venv.action_space.n == V
    actions, rewards, obs, infos = _episode(venv, seed=3)
    assert (obs == -1).all()  # same-step reset: the next episodes start empty
    for i, info in enumerate(infos):
        np.testing.assert_array_equal(info["terminal_observation"], actions[:, i])
        assert info["TimeLimit.truncated"] is False and info["episode"]["l"] == T
        # the env's rewards Q_t - Q_{t-1} telescope: an episode's rewards sum to its final score
        assert info["episode"]["r"] == pytest.approx(rewards[:, i].sum(), abs=1e-5)
        assert info["final_score"] == pytest.approx(rewards[:, i].sum(), abs=1e-5)
    final = OracleLikelihoodReward(oracle).score(torch.as_tensor(actions.T))
    np.testing.assert_allclose([info["final_score"] for info in infos], final.numpy(), rtol=1e-5)


def test_rewards_are_the_differences_of_the_envs_q_values_and_seeding_repeats(oracle):
    venv, _ = _venv(_generator(), oracle)
    q = []
    _, diff, _, _ = _episode(venv, seed=5, q_values=q)
    q = np.array(q, dtype=np.float32)
    np.testing.assert_array_equal(diff, np.diff(q, axis=0, prepend=np.zeros((1, B), np.float32)))
    np.testing.assert_allclose(np.cumsum(diff, 0), q, rtol=1e-5, atol=1e-5)
    _, diff_again, _, _ = _episode(venv, seed=5)
    np.testing.assert_array_equal(diff, diff_again)
    _, diff_other, _, _ = _episode(venv, seed=6)
    assert not np.array_equal(diff[:-1], diff_other[:-1])  # the rollouts depend on the seed


def test_vecenv_reaches_the_underlying_env(oracle):
    venv, env = _venv(_generator(), oracle, render_mode="ansi")
    assert venv.get_attr("reward_model") == [env.reward_model] * B
    assert venv.get_attr("rollout_policy", indices=[0])[0] is env.rollout_policy
    venv.reset()
    assert venv.env_method("render", indices=0) == [tuple(["_ " * (T - 1) + "_"] * B)]
    assert venv.env_is_wrapped(object) == [False] * B


def test_vecenv_refuses_bad_configuration(oracle):
    env = _env(_generator(), oracle, autoreset_mode=AutoresetMode.NEXT_STEP)
    with pytest.raises(ValueError, match="SAME_STEP"):
        SeqGANSB3VecEnv(env)
    venv, _ = _venv(_generator(), oracle)
    venv.reset()
    with pytest.raises(ValueError, match="out of range"):
        venv.step(np.full(B, V))


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_policy_actor_is_the_pretrained_generator(oracle, algo):
    g = _generator(std=0.5)
    venv, _ = _venv(g, oracle)
    model = make_sb3_agent(algo, venv, g, device="cpu")
    policy = model.policy
    assert policy.action_net is policy.generator.output  # tied: the actor is a language model
    seqs = g.sample(6, rng=torch.Generator().manual_seed(1))
    expected = torch.log_softmax(g.logits(seqs), -1)  # (6, T, V)
    for t in range(T):
        obs = seqs.clone()
        obs[:, t:] = -1  # prefix of length t
        got = policy.get_distribution(obs.float()).distribution.logits
        torch.testing.assert_close(got, expected[:, t], rtol=1e-5, atol=1e-5)
    # the critic has its own extractor: value gradients never reach the generator
    assert policy.vf_features_extractor is not policy.pi_features_extractor


def test_load_generator_refuses_another_architecture(oracle):
    venv, _ = _venv(_generator(), oracle)
    model = make_sb3_agent("ppo", venv, _generator(), device="cpu")
    with pytest.raises(ValueError, match="hidden_dim"):
        model.policy.load_generator(LSTMLanguageModel(V, T, hidden_dim=8))
    with pytest.raises(ValueError, match="algo"):
        make_sb3_agent("dqn", venv, _generator())


def test_ppo_learns_with_the_oracle_reward():
    """A real effect on a tiny config: PPO maximising the oracle's log-likelihood lowers NLL_oracle."""
    oracle = random_oracle(seed=2, vocab_size=50, seq_len=8)
    g = _generator(V=50, T=8)
    venv, env = _venv(g, oracle, num_envs=32)
    model = make_sb3_agent("ppo", venv, g, learning_rate=3e-3, seed=0, device="cpu")
    eval_rng = torch.Generator().manual_seed(5)
    before = nll_oracle(model.policy.generator, oracle, 2000, rng=eval_rng)
    model.learn(total_timesteps=8 * 32 * 25,
                callback=RolloutPolicyUpdateCallback(env.rollout_policy, model.policy.generator))
    after = nll_oracle(model.policy.generator, oracle, 2000, rng=eval_rng)
    assert after < before - 1.0, (before, after)


def test_callbacks_fire_on_their_schedule_under_ppo(oracle, monkeypatch):
    # the callback's D update (through seqgan_gym.rewards.intermediate)
    import seqgan_gym.training.updates as training

    calls = []
    monkeypatch.setattr(training, "train_discriminator",
                        lambda *a, **kw: calls.append(kw) or {"loss": 0.5, "acc_real": 1.0,
                                                              "acc_fake": 0.0})
    g = _generator()
    venv, env = _venv(g, oracle, mode="terminal")
    beta = env.rollout_policy
    model = make_sb3_agent("ppo", venv, g, seed=0, device="cpu", n_epochs=1, batch_size=B * T)
    d_callback = DiscriminatorUpdateCallback.for_generator(
        model.policy.generator, torch.nn.Linear(1, 1), None, torch.zeros(8, T, dtype=torch.long),
        g_steps=2, d_steps=3, k=1, n_negatives=16)
    beta_callback = RolloutPolicyUpdateCallback(beta, model.policy.generator)
    beta0 = [p.clone() for p in beta.model.parameters()]
    model.learn(total_timesteps=5 * B * T, callback=[d_callback, beta_callback])
    # 5 rollouts = 5 generator updates; D updates after the 2nd and 4th
    assert d_callback.generator_updates == 5 and len(calls) == 2 and d_callback.d_updates == 6
    assert beta_callback.n_updates == 5
    assert not all(torch.equal(a, b) for a, b in zip(beta0, beta.model.parameters()))


def test_adapter_composes_with_sb3_vecenv_wrappers(oracle):
    """SB3's own VecEnv wrappers accept the adapter: VecMonitor's episode records agree with ours
    and VecCheckNan finds nothing to complain about."""
    from stable_baselines3.common.vec_env import VecCheckNan, VecMonitor

    venv, _ = _venv(_generator(), oracle)
    wrapped = VecCheckNan(VecMonitor(venv), raise_exception=True)
    wrapped.seed(1)
    obs = wrapped.reset()
    for t in range(T):
        obs, rewards, dones, infos = wrapped.step(np.full(B, t % V))
    assert dones.all() and (obs == -1).all()
    for info in infos:
        assert info["episode"]["l"] == T
        assert info["episode"]["r"] == pytest.approx(info["final_score"], abs=1e-4)


def test_make_sb3_agent_keeps_the_generators_sizes(oracle):
    venv, _ = _venv(_generator(), oracle)
    with pytest.raises(ValueError, match="contradict"):
        make_sb3_agent("a2c", venv, _generator(), device="cpu",
                       policy_kwargs={"features_extractor_kwargs": {"hidden_dim": 8}})
    model = make_sb3_agent("a2c", venv, _generator(), device="cpu",
                           policy_kwargs={"features_extractor_kwargs": {"emb_dim": 32}, "net_arch":
                                          {"pi": [], "vf": [16]}})
    assert model.policy.generator.hidden_dim == 32 and model.policy.value_net.in_features == 16


# ----------------------------------------------------------------------------- MaskablePPO (text)
EOS = 1


class _LengthReward(RewardModel):
    """The position of the first EOS / T (1 without one)."""

    vocab_size, seq_len = V, T

    def _score(self, sequences):
        ended = (sequences == EOS).float()
        return ended.argmax(1).float().where(ended.any(1), torch.tensor(float(T))) / T


def test_action_masks_allow_only_eos_after_eos():
    env = SeqGANVectorEnv(num_envs=3, vocab_size=V, seq_len=T, intermediate_reward="terminal",
                          reward_model=_LengthReward(), eos_token=EOS, device="cpu")
    env.reset(seed=0)
    assert env.action_masks().shape == (3, V) and env.action_masks().all()
    env.step(np.array([EOS, 4, 5]))
    masks = env.action_masks()
    assert masks[0].sum() == 1 and masks[0, EOS] and masks[1:].all()
    venv = SeqGANSB3VecEnv(env)
    rows = venv.env_method("action_masks")  # one (V,) row per sequence, as MaskablePPO reads them
    assert len(rows) == 3 and np.array_equal(np.stack(rows), masks)


def test_maskable_ppo_gives_the_steps_after_eos_no_choice_and_no_gradient():
    pytest.importorskip("sb3_contrib")
    from sb3_contrib.common.maskable.utils import get_action_masks

    generator = LSTMLanguageModel(V, T, eos_token=EOS).init_normal_(0.1, torch.Generator().manual_seed(0))
    env = SeqGANVectorEnv(num_envs=B, vocab_size=V, seq_len=T, intermediate_reward="terminal",
                          reward_model=_LengthReward(), eos_token=EOS, device="cpu")
    model = make_sb3_agent("maskable_ppo", SeqGANSB3VecEnv(env), generator, seed=0)
    assert model.policy.generator.output is model.policy.action_net  # the actor is still G
    venv = model.get_env()
    obs = venv.reset()
    venv.step(np.full(B, EOS))  # every sequence ends at once
    obs, masks = env.core.observation(), get_action_masks(venv)
    values, log_prob, entropy = model.policy.evaluate_actions(
        torch.as_tensor(obs), torch.full((B,), EOS), action_masks=torch.as_tensor(masks))
    torch.testing.assert_close(log_prob, torch.zeros(B))  # probability 1: no credit, no gradient
    torch.testing.assert_close(entropy, torch.zeros(B))
    before = [p.clone() for p in model.policy.generator.parameters()]
    model.learn(2 * B * T)  # two updates run, masks and all
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.generator.parameters()))


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_kl_penalty_enters_sb3_rewards_and_advantages(oracle, algo):
    """With a KL anchor each step's reward loses its token's cost, and SB3's returns are recomputed
    from those rewards (gamma = 1: the return from step t is the sum of rewards t..T)."""
    from seqgan_gym.agents import SB3GeneratorUpdates

    generator = _generator()
    venv, env = _venv(generator, oracle, mode="terminal")
    model = make_sb3_agent(algo, venv, generator, seed=0)
    agent = SB3GeneratorUpdates(model, kl_coef=0.5)
    raw = []

    class Keep(BaseCallback):
        def _on_rollout_end(self):  # runs before the penalty (added after it in the list)
            raw.append(self.model.rollout_buffer.rewards.copy())

        def _on_step(self):
            return True

    agent._callbacks.insert(0, Keep())
    agent.update()
    stats = agent.update()  # the second update: G has moved away from the anchor
    buffer = model.rollout_buffer
    assert stats["kl"] != 0 and stats["kl_coef"] == 0.5
    # the env's rewards minus the penalised ones: 0.5 x the per-token costs, whose sum per sequence,
    # averaged, is the KL the agent reports
    penalty = raw[-1] - buffer.rewards  # (T, B)
    assert (penalty != 0).any()
    assert np.allclose(penalty.sum(0).mean() / 0.5, stats["kl"], atol=1e-5)
    # returns = GAE(lambda) advantages of the penalised rewards + values (gamma 1, no bootstrap at T);
    # training read the buffer, which SB3 then holds flattened env-major
    values = buffer.values.reshape(B, T).T
    deltas = buffer.rewards + np.vstack([values[1:], np.zeros((1, B))]) - values
    advantages = np.zeros_like(deltas)
    for t in reversed(range(T)):
        advantages[t] = deltas[t] + (model.gae_lambda * advantages[t + 1] if t + 1 < T else 0)
    assert np.allclose(buffer.returns.reshape(B, T).T, advantages + values, atol=1e-4)


# ----------------------------------------------------------------- the fast paths vs the plain computation
class _FullPrefixExtractor(PrefixLSTMExtractor):
    """The plain extractor: one LSTM pass over the whole (T + 1)-token input per observation."""

    def forward(self, observations):
        tokens = observations.long()
        m = tokens.shape[0]
        written = (tokens >= 0).sum(1)
        inputs = torch.cat([self.generator.start_tokens(m)[:, None], tokens.clamp(min=0)], 1)
        hidden, _ = self.generator.lstm(self.generator.embedding(inputs))
        return hidden[torch.arange(m), written]


class _PlainPolicy(GeneratorPolicy):
    """SB3's own categorical distribution (autograd through torch.distributions), with
    torch.multinomial sampling, the plain extractor and unfused Adam."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("optimizer_kwargs", {"eps": 1e-5})
        super().__init__(*args, **{**kwargs, "features_extractor_class": _FullPrefixExtractor})
        self.action_dist = CategoricalDistribution(self.action_space.n)

    _get_action_dist_from_latent = ActorCriticPolicy._get_action_dist_from_latent


class _FastMultinomialPolicy(GeneratorPolicy):
    """The adapter's policy, sampling with torch.multinomial (the plain policy's draws)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        dist = self.action_dist
        dist.sample = lambda: dist.distribution.sample()


def _prefix_batch(seed, m=40, vocab=5, t=T):
    """Prefixes of a few short-vocabulary sequences: shared prefixes, duplicates, empty and full rows."""
    rng = torch.Generator().manual_seed(seed)
    full = torch.randint(0, vocab, (6, t), generator=rng)
    rows = full[torch.randint(0, 6, (m,), generator=rng)]
    lengths = torch.randint(0, t + 1, (m,), generator=rng)
    lengths[:2] = torch.tensor([0, t])
    rows[torch.arange(t)[None, :] >= lengths[:, None]] = -1
    return rows


@pytest.mark.parametrize("seed", range(4))
def test_prefix_sources_map_every_row_to_a_longest_extension(seed):
    from seqgan_gym._kernels.prefixes import prefix_sources

    tokens = _prefix_batch(seed)
    written = (tokens >= 0).sum(1)
    reads, source = prefix_sources(tokens)
    extension = reads[source]
    assert ((extension == tokens) | (tokens < 0)).all()  # each row's source extends it
    # ... and no row of the batch extends that one further (so none is read in vain)
    for row in reads:
        extends_it = ((tokens == row) | (row < 0)).all(1)
        assert written[extends_it].max() == (row >= 0).sum()
    assert len(reads) == len(set(map(tuple, reads.tolist())))  # no row read twice
    same_length = tokens[written == written[2]]  # a rollout step: read as it is, no sorting
    reads, source = prefix_sources(same_length)
    assert reads is same_length and torch.equal(source, torch.arange(len(same_length)))


def test_extractor_features_equal_one_pass_per_observation():
    space = SeqGANVectorEnv(num_envs=1, vocab_size=V, seq_len=T, intermediate_reward="terminal",
                            reward_model=_LengthReward(), device="cpu").single_observation_space
    fast = PrefixLSTMExtractor(space).double()  # float64: the differences are rounding only
    plain = _FullPrefixExtractor(space).double()
    plain.load_state_dict(fast.state_dict())
    obs = _prefix_batch(0, m=64).double()
    got, want = fast(obs), plain(obs)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    (got ** 2).sum().backward()
    (want ** 2).sum().backward()
    for a, b in zip(fast.parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)
    assert fast(obs[:0]).shape == (0, 32)


def test_collected_log_probs_equal_those_ppo_evaluates():
    """The log-probabilities SB3 stores while collecting (from the sampling pass) equal the ones
    ``evaluate_actions`` computes for the same observations and actions."""
    g = _generator(std=0.5)
    venv, _ = _venv(g, random_oracle(seed=1, vocab_size=V, seq_len=T))
    policy = make_sb3_agent("ppo", venv, g, device="cpu", seed=0).policy
    obs = _prefix_batch(0, m=64)
    torch.manual_seed(0)
    with torch.no_grad():
        actions, _, collected = policy(obs)
        _, evaluated, _ = policy.evaluate_actions(obs, actions)
        again = policy.get_distribution(obs).log_prob(actions)  # not the sampled tensor: computed
    torch.testing.assert_close(collected, evaluated, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(collected, again, rtol=1e-5, atol=1e-5)


def test_policy_samples_the_generators_distribution():
    """Inverse-CDF actions follow softmax(logits): the frequencies of 40,000 seeded draws lie within
    5 standard errors of each token's probability."""
    g = _generator(std=0.5)
    venv, _ = _venv(g, random_oracle(seed=1, vocab_size=V, seq_len=T))
    policy = make_sb3_agent("ppo", venv, g, device="cpu", seed=0).policy
    obs = torch.full((40_000, T), -1.0)
    obs[:, :2] = torch.tensor([3.0, 7.0])
    torch.manual_seed(0)
    with torch.no_grad():
        actions, _, log_prob = policy(obs)
        probs = torch.softmax(g.logits(torch.tensor([[3, 7] + [0] * (T - 2)]))[0, 2], -1)
    n, probs = len(actions), probs.double()
    frequencies = torch.bincount(actions, minlength=V).double() / n
    assert ((frequencies - probs).abs() <= 5 * (probs * (1 - probs) / n).sqrt() + 1e-9).all()
    torch.testing.assert_close(log_prob.double(), probs.log()[actions], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_fast_policy_trains_like_sb3s_plain_computation(oracle, algo):
    """Whole updates, same rollouts (both sample with torch.multinomial from the same seed): the
    adapter's policy (prefix dedupe, blockwise log-prob, fused Adam) ends with the parameters the
    plain computation (SB3's distribution through autograd, one LSTM pass per observation,
    unfused Adam) ends with, up to float rounding."""
    models = []
    for policy in (_FastMultinomialPolicy, _PlainPolicy):  # built and trained in turn: SB3 seeds
        g = _generator(std=0.3)  # torch's global random state, shared by the two
        venv, _ = _venv(g, oracle, mode="terminal")
        models.append(make_sb3_agent(algo, venv, g, seed=3, device="cpu", policy=policy))
        models[-1].learn(3 * B * T)
    fast, plain = models
    assert bool(fast.policy.optimizer.defaults.get("fused")) == (algo == "ppo")  # A2C: RMSprop
    assert not plain.policy.optimizer.defaults.get("fused")
    np.testing.assert_array_equal(fast.rollout_buffer.actions, plain.rollout_buffer.actions)
    for (name, a), b in zip(fast.policy.state_dict().items(), plain.policy.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_update_runs_the_policy_on_one_thread_per_operation_and_restores_the_count(oracle):
    """During an update the policy (collecting and SB3's train()) runs on one CPU thread per
    operation (side_by_side_workers still counts the caller's threads); the environment's step gets
    every thread per operation; the caller's thread count is back afterwards."""
    from seqgan_gym._kernels.threads import side_by_side_workers
    from seqgan_gym.agents import SB3GeneratorUpdates
    from seqgan_gym.utils import torch_threads

    generator = _generator()
    venv, env = _venv(generator, oracle, mode="terminal")
    model = make_sb3_agent("ppo", venv, generator, seed=0)
    agent = SB3GeneratorUpdates(model)
    seen = {}
    cpu = torch.device("cpu")
    collect, train, step = model.collect_rollouts, model.train, env.step

    def collect_rollouts(*args, **kwargs):
        seen["collect"] = torch.get_num_threads(), side_by_side_workers(cpu, 8)
        return collect(*args, **kwargs)

    def train_():
        seen["train"] = torch.get_num_threads(), side_by_side_workers(cpu, 8)
        return train()

    def env_step(actions):
        seen["env"] = torch.get_num_threads(), side_by_side_workers(cpu, 8)
        return step(actions)

    model.collect_rollouts, model.train, env.step = collect_rollouts, train_, env_step
    with torch_threads(2):
        agent.update()
        assert seen == {"collect": (1, 2), "train": (1, 2), "env": (2, 2)}
        assert torch.get_num_threads() == 2 and side_by_side_workers(cpu, 8) == 2


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_sb3_config_fields_reach_the_algorithm_and_bad_ones_are_refused(oracle, algo):
    """The sb3_* config fields become the SB3 algorithm's own settings through make_agent; unset,
    each algorithm keeps its default; PPO-only fields with A2C and bad values fail in one line."""
    from stable_baselines3.common.logger import Logger

    from seqgan_gym.agents import make_agent
    from seqgan_gym.config import get_preset

    base = get_preset("smoke").override([f"algo={algo}", f"vocab_size={V}", f"seq_len={T}"])
    changes = ["sb3_gae_lambda=0.5", "sb3_normalize_advantage=false"]
    if algo == "ppo":
        changes += ["sb3_epochs=7", "sb3_clip_range=0.3"]
    for cfg, want in ((base.validate(), {"gae_lambda": 0.95 if algo == "ppo" else 1.0}),
                      (base.override(changes).validate(), {"gae_lambda": 0.5, "normalize_advantage": False})):
        generator = _generator()
        env = _env(generator, oracle, mode="terminal")
        model = make_agent(cfg, env, generator, 0, Logger(None, [])).model
        assert {key: getattr(model, key) for key in want} == want
        if algo == "ppo":
            assert model.n_epochs == (7 if cfg.sb3_epochs else 4)
            assert model.clip_range(1.0) == (0.3 if cfg.sb3_clip_range else 0.2)
    with pytest.raises(ValueError, match="sb3_clip_range must be a finite number > 0"):
        base.override(["sb3_clip_range=0"]).validate()
    with pytest.raises(ValueError, match="sb3_gae_lambda must be in"):
        base.override(["sb3_gae_lambda=1.5"]).validate()
    with pytest.raises(ValueError, match="expects bool"):
        base.override(["sb3_normalize_advantage=yes please"])
    if algo == "a2c":
        with pytest.raises(ValueError, match="PPO's"):
            base.override(["sb3_epochs=2"]).validate()
