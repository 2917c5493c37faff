"""The public API: ``from seqgan_gym import ...``, ``load_run``, the agent protocol with
``--algo module:Class``, SB3's own constructors on ``GeneratorPolicy``, the D callback's schedule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import seqgan_gym
from seqgan_gym.run.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ["--preset", "smoke", "--threads", "1", "--no-progress", "--no-estimate", "--set", "adv_iterations=2"]


def test_every_public_name_resolves_and_import_stays_light():
    code = ("import sys, seqgan_gym; assert 'torch' not in sys.modules; "
            "[getattr(seqgan_gym, n) for n in seqgan_gym.__all__]; print(len(seqgan_gym.__all__))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         timeout=120)
    assert int(out.stdout) == len(seqgan_gym.__all__) >= 15
    assert {"SeqGANEnv", "Reinforce", "Agent", "load_run", "DiscriminatorReward", "BleuReward"} <= set(
        seqgan_gym.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        seqgan_gym.nope  # noqa: B018


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    assert cli_main(["train", *SMOKE, "--run-dir", str(run_dir)]) == 0
    return run_dir


def test_load_run_gives_the_models_data_and_env_arguments(smoke_run):
    import gymnasium as gym

    from seqgan_gym import DiscriminatorReward, RolloutPolicy, load_run
    from seqgan_gym.models.saving import load_language_model

    state = torch.random.get_rng_state()
    run = load_run(smoke_run)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left as it was
    assert run.generator_file.name == "generator_adv.pt"
    saved = load_language_model(smoke_run / "checkpoints" / "generator_adv.pt")
    pairs = zip(run.generator.state_dict().values(), saved.state_dict().values())
    assert all(torch.equal(a, b) for a, b in pairs)
    assert run.discriminator is not None and run.oracle is not None and run.corpus is None
    assert run.real_data.shape == (run.config.n_train, run.config.seq_len)
    assert run.env_kwargs["vocab_size"] == run.oracle.vocab_size == run.generator.vocab_size
    # one line from a saved run to an env
    envs = gym.make_vec("SeqGAN-Oracle-v0", num_envs=4, **run.env_kwargs, device="cpu",
                        reward_model=DiscriminatorReward(run.discriminator),
                        rollout_policy=RolloutPolicy(run.generator))
    envs.reset(seed=0)
    _, rewards, *_ = envs.step(envs.action_space.sample())
    assert rewards.shape == (4,)
    assert load_run(smoke_run, generator="mle").generator_file.name == "generator_mle.pt"
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_run(smoke_run / "checkpoints")
    with pytest.raises(ValueError, match="generator must be"):
        load_run(smoke_run, generator="best")


def _own_agent_args(run_dir: Path, *extra: str) -> list[str]:
    return ["train", *SMOKE, "--algo", f"{ROOT / 'examples' / 'own_agent.py'}:ReturnsPG", "--run-dir",
            str(run_dir), *extra]


def test_your_own_agent_trains_repeats_and_is_recorded(tmp_path):
    assert cli_main(_own_agent_args(tmp_path / "a")) == 0
    assert cli_main(_own_agent_args(tmp_path / "b")) == 0
    config = json.loads((tmp_path / "a" / "config.json").read_text())["config"]
    assert config["algo"].endswith("own_agent.py:ReturnsPG")
    assert Path(config["algo"].split(":")[0]).is_absolute()
    rows = [(tmp_path / d / "metrics.csv").read_text().splitlines() for d in "ab"]
    strip = [[",".join(r.split(",")[:2] + r.split(",")[3:]) for r in run] for run in rows]  # without wall_s
    assert strip[0] == strip[1]
    adversarial = [r for r in rows[0] if r.startswith("adversarial,")]
    assert len(adversarial) == 3  # the start and 2 iterations of the agent's updates


@pytest.mark.parametrize(("algo", "message"), [
    ("nope", "algo must be one of"),
    ("no_such_module_xyz:Agent", "does not import"),
    ("seqgan_gym.config:NoSuchClass", "has no class 'NoSuchClass'"),
    ("missing_file.py:Agent", "is not a file"),
])
def test_a_wrong_algo_is_one_line_before_any_work(tmp_path, capsys, algo, message):
    code = cli_main(["train", *SMOKE, "--algo", algo, "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # refused before the run directory was made


def test_an_agent_without_the_protocols_verbs_is_refused(tmp_path):
    from seqgan_gym.agents.protocol import make_user_agent

    file = tmp_path / "bad_agent.py"
    file.write_text("class Half:\n    def __init__(self, generator, env, *, seed, config):\n"
                    "        self.generator = generator\n    def update(self):\n        return {}\n")
    with pytest.raises(TypeError, match="lacks state_dict, load_state_dict"):
        make_user_agent(f"{file}:Half", torch.nn.Linear(1, 1), None, seed=0, config=None)


def test_sb3_constructors_take_the_generator_in_policy_kwargs():
    from stable_baselines3 import A2C

    from seqgan_gym import LSTMLanguageModel, SeqGANSB3VecEnv, SeqGANVectorEnv
    from seqgan_gym.agents import GeneratorPolicy

    g = LSTMLanguageModel(30, 5, emb_dim=8, hidden_dim=8).init_normal_(0.1, torch.Generator().manual_seed(0))
    venv = SeqGANSB3VecEnv(SeqGANVectorEnv(4, vocab_size=30, seq_len=5, reward_model="untrained",
                                           intermediate_reward="terminal", device="cpu"))
    model = A2C(GeneratorPolicy, venv, n_steps=5, policy_kwargs={"generator": g}, device="cpu")
    actor = model.policy.generator
    assert actor is not g and all(torch.equal(a, b) for a, b in zip(actor.parameters(), g.parameters()))
    model.learn(10)
    with pytest.raises(ValueError, match="contradict the generator's sizes"):
        A2C(GeneratorPolicy, venv, n_steps=5, device="cpu",
            policy_kwargs={"generator": g, "features_extractor_kwargs": {"hidden_dim": 16}})


def test_the_d_callback_defaults_to_the_cpu_schedule_and_states_it(capsys):
    from stable_baselines3.common.logger import configure

    from seqgan_gym import Discriminator, DiscriminatorUpdateCallback
    from seqgan_gym.config import PRESETS

    cpu = PRESETS["cpu"]
    d = Discriminator(30, 5, filter_sizes=(2,), num_filters=(4,))
    real = torch.zeros(8, 5, dtype=torch.long)
    callback = DiscriminatorUpdateCallback(d, torch.optim.Adam(d.parameters()), real,
                                           lambda n: torch.ones(n, 5, dtype=torch.long))
    assert (callback.d_steps, callback.k, callback.n_negatives) == (cpu.d_steps, cpu.k, cpu.dis_negatives)

    class Model:  # what init_callback reads of a model
        def get_env(self):
            return None

        logger, num_timesteps = configure(None, []), 0

    callback.init_callback(Model())
    callback.on_training_start({}, {})
    printed = capsys.readouterr().out
    assert "every 1 generator update(s): 1 x (5000 fresh negatives, 1 epoch(s) of D" in printed


@pytest.mark.parametrize("script", ["env_basics.py", "own_pg_loop.py", "sb3_ppo.py"])
def test_examples_run(script):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / script)], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "NLL_oracle" in out.stdout or "sum of rewards" in out.stdout


def test_torchrl_example_lowers_nll_oracle():
    pytest.importorskip("torchrl", reason="the TorchRL example needs pip install 'seqgan-gym[torchrl]'")
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import torchrl_ppo
    finally:
        sys.path.pop(0)
    result = torchrl_ppo.main(seed=0, updates=4)
    assert result["nll_oracle_end"] < result["nll_oracle_start"] - 0.05


def test_the_readme_lists_the_public_api():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = readme[readme.index("`from seqgan_gym import ...`:"):readme.index("([API reference]")]
    listed = re.findall(r"`(\w+)`", sentence)
    assert sorted(listed) == sorted(n for n in seqgan_gym.__all__ if n != "__version__")
