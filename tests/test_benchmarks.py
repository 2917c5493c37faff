"""The comparison benchmarks run end to end (their --quick smoke modes: tiny random oracle)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> str:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--threads", "1",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_compare_rewards_quick(tmp_path):
    out = tmp_path / "cmp"
    stdout = _run("compare_rewards.py", "--out", str(out))
    folder = Path(str(out) + "_quick")
    result = json.loads((folder / "compare_rewards.json").read_text())
    assert set(result["summary"]) == {"seqgan", "pg_bleu", "ppo_d", "a2c_d", "oracle_ceiling"}
    assert len(result["runs"]) == 5 * 2 and result["quick"]
    for run in result["runs"]:
        assert run["updates"][0] == 0 and run["updates"][-1] == 4 and Path(run["checkpoint"]).is_file()
    assert (folder / "compare_rewards.png").stat().st_size > 0
    assert "| seqgan | reinforce | discriminator |" in stdout


def test_compare_rewards_quick_with_the_tempered_density_ratio(tmp_path):
    out = tmp_path / "cmp"
    stdout = _run("compare_rewards.py", "--out", str(out), "--methods", "seqgan", "ppo_d", "--seeds", "0",
                  "--set", "dis_form=density_ratio", "--set", "density_ratio_alpha=0.5",
                  "--set", "mle_epochs=3")
    result = json.loads((Path(str(out) + "_quick") / "compare_rewards.json").read_text())
    assert result["config"]["dis_form"] == "density_ratio" and result["config"]["density_ratio_alpha"] == 0.5
    assert len(result["runs"]) == 2 and "density_ratio_alpha=0.5" in stdout
    # the density ratio's D separates G's samples from held-out real ones from the start (a CNN
    # pre-trained for one epoch on the smoke preset does not)
    metrics = (Path(str(out) + "_quick") / "runs" / "seqgan-seed0" / "metrics.csv").read_text()
    assert "d_heldout_auc" in metrics


def test_compare_rewards_refuses_a_bad_override_in_one_line(tmp_path):
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare_rewards.py"), "--quick",
                           "--out", str(tmp_path / "c"), "--set", "density_ratio_alpha=-1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "error: density_ratio_alpha must be a finite number > 0 or none, got -1.0"]


def test_compare_algorithms_quick_and_its_resume(tmp_path):
    out = tmp_path / "alg"
    grid = ("--rewards", "oracle", "discriminator", "--kl-coefs", "0", "0.1", "--seeds", "0", "1")
    _run("compare_algorithms.py", "--out", str(out), "--algorithms", "reinforce", *grid)
    folder = Path(str(out) + "_quick")
    first = json.loads((folder / "compare_algorithms.json").read_text())
    assert len(first["runs"]) == 2 * 2 * 2 * 2  # rewards x KL x starts x seeds
    assert set(first["starts"]) == {"mle_last", "mle_best"}
    for run in first["runs"]:
        assert run["nll_oracle"][0] > 0 and len(run["score_curve"]) == 4 and Path(run["checkpoint"]).is_file()
        assert (run["kl_curve"][-1] is not None) == (run["kl_coef"] > 0)  # the anchor logs its KL
        assert (run["reward"] == "discriminator") == ("d_oracle_spearman" in run)
    row = first["summary"]["mle_last reinforce+kl0.1/oracle"]
    assert row["p_vs_reinforce"] is not None and row["kl_end"][0] is not None
    assert first["summary"]["mle_last reinforce/oracle"]["p_vs_reinforce"] is None  # itself
    assert row["reference"] == "reinforce/oracle"
    assert row["qd_swept"] == 2 and set(row["qd_crossings"]) == {"0", "1"}  # every seed's curve
    assert set(first["quality_diversity"]) >= {"start mle_last", "mle_last reinforce/oracle seed 1"}
    # resumed with one more algorithm: the finished runs are kept as they were, PPO's are added
    stdout = _run("compare_algorithms.py", "--out", str(out), "--algorithms", "reinforce", "ppo", *grid,
                  "--resume")
    second = json.loads((folder / "compare_algorithms.json").read_text())
    assert len(second["runs"]) == 2 * len(first["runs"])
    kept = {(r["start"], r["cell"], r["seed"]): r["wall_s"] for r in first["runs"]}
    assert all(r["wall_s"] == kept[(r["start"], r["cell"], r["seed"])] for r in second["runs"]
               if r["algorithm"] == "reinforce")
    assert stdout.count("[compare_algorithms] mle_") == len(first["runs"])  # only PPO's runs ran again
    assert "| mle_best | ppo | 0.1 | discriminator |" in stdout
    assert (folder / "compare_algorithms.png").stat().st_size > 0


def test_compare_algorithms_kl_target_cells(tmp_path):
    """--kl-target adapts every anchored cell toward a KL; it needs an anchor to adapt."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    refused = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare_algorithms.py"), "--quick",
                              "--kl-coefs", "0", "--kl-target", "1", "--out", str(tmp_path / "no")],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "--kl-target" in refused.stderr
    assert not (tmp_path / "no_quick").exists()  # refused before any work
    out = tmp_path / "klt"
    stdout = _run("compare_algorithms.py", "--out", str(out), "--algorithms", "reinforce", "--rewards",
                  "oracle", "--kl-coefs", "0.1", "--kl-target", "0.5", "--seeds", "0", "--qd-seeds", "first")
    result = json.loads((Path(str(out) + "_quick") / "compare_algorithms.json").read_text())
    assert {r["cell"] for r in result["runs"]} == {"reinforce+kl0.1-target0.5/oracle"}
    assert all(r["kl_target"] == 0.5 and r["kl_curve"][-1] is not None for r in result["runs"])
    assert "| mle_best | reinforce | 0.1 → 0.5 | oracle |" in stdout


def test_paper_table_quick(tmp_path):
    out = tmp_path / "table"
    stdout = _run("paper_table.py", "--out", str(out))
    folder = Path(str(out) + "_quick")
    result = json.loads((folder / "paper_table.json").read_text())
    assert set(result["table"]) == {"random", "mle", "ss", "pg_bleu", "seqgan"}
    assert result["table"]["random"]["nll_oracle_mean"] > result["table"]["mle"]["nll_oracle_mean"]
    assert [s["schedule"] for s in result["schedules"]] == [[100, 1, 10], [30, 1, 30], [1, 1, 10], [1, 5, 3]]
    assert set(result["quality_diversity"]) == {"mle", "ss", "pg_bleu", "seqgan"}
    for name in ("schedules.png", "quality_diversity.png", "paper_table.md"):
        assert (folder / name).stat().st_size > 0
    assert "NOT the paper's full schedule" in stdout


def test_real_data_quick(tmp_path):
    corpus = tmp_path / "lines.txt"
    corpus.write_text("\n".join(" ".join("abcdefgh"[(i + j) % 8] for j in range(2 + i % 5))
                                for i in range(120)) + "\n")
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_data.py"), "--corpus", str(corpus),
                           "--budget", "quick", "--samples", "50", "--threads", "1",
                           "--methods", "seqgan", "pg_bleu", "maskable_ppo", "--out", str(tmp_path / "rd")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "rd" / "lines_quick" / "real_data_lines.json").read_text())
    assert set(result["rows"]) == {"mle", "seqgan", "pg_bleu", "maskable_ppo", "real"}
    for row in result["rows"].values():
        assert row["n_samples"] == 50 and row["n_references"] == 12
        assert 0 <= row["bleu2"] <= 1 and 0 <= row["self_bleu4"] <= 1
    # the real lines are scored against the held-out real lines: far above an untrained-ish model
    assert result["rows"]["real"]["bleu2"] > 0.5
    assert "| real |" in done.stdout and "NOT the paper's schedule" in done.stdout
    # a second seed, then the mean ± std table over both
    first = tmp_path / "rd" / "lines_quick" / "real_data_lines.json"
    args = [sys.executable, str(ROOT / "benchmarks" / "real_data.py"), "--corpus", str(corpus), "--budget",
            "quick", "--samples", "50", "--seed", "1", "--threads", "1", "--out", str(tmp_path / "rd1")]
    assert subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=600).returncode == 0
    second = tmp_path / "rd1" / "lines_quick" / "real_data_lines.json"
    refused = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_data.py"), "--combine",
                              str(first), str(second), "--out", str(tmp_path / "comb")], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "run the same --methods" in refused.stderr
    args[-2:] = ["--methods", "seqgan", "pg_bleu", "maskable_ppo", "--out", str(tmp_path / "rd2")]
    assert subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=600).returncode == 0
    second = tmp_path / "rd2" / "lines_quick" / "real_data_lines.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_data.py"), "--combine", str(first),
                           str(second), "--out", str(tmp_path / "comb")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    table = json.loads((tmp_path / "comb" / "lines_combined" / "real_data_lines.json").read_text())["table"]
    one, two = (json.loads(p.read_text())["rows"]["mle"]["bleu2"] for p in (first, second))
    assert table["mle"]["bleu2"]["values"] == [one, two]
    assert abs(table["mle"]["bleu2"]["mean"] - (one + two) / 2) < 1e-12
    assert "over seeds [0, 1]" in done.stdout


def test_compare_intermediate_rewards_quick(tmp_path):
    out = tmp_path / "ir"
    stdout = _run("compare_intermediate_rewards.py", "--out", str(out))
    folder = Path(str(out) + "_quick")
    result = json.loads((folder / "compare_intermediate_rewards.json").read_text())
    strategies = ["mc_rollout", "terminal", "prefix_discriminator", "critic"]
    assert set(result["summary"]) == {"discriminator", "bleu"} and result["quick"]
    assert len(result["runs"]) == 2 * 4 * 2
    for reward, block in result["summary"].items():
        assert set(block["rows"]) == set(strategies)
        assert block["rows"]["mc_rollout"]["p_vs_mc_rollout"]["nll_oracle"] is None
        assert block["rows"]["terminal"]["p_vs_mc_rollout"]["nll_oracle"] is not None
        # mc_rollout samples B x N x (T - 1) completions per update on top of what the others sample
        rows, cfg = block["rows"], result["config"]
        extra = rows["mc_rollout"]["sampled_per_update"] - rows["prefix_discriminator"]["sampled_per_update"]
        negatives = cfg["dis_negatives"] * cfg["d_steps"]  # with BLEU only the prefix D needs them
        completions = cfg["num_envs"] * cfg["n_rollouts"] * (cfg["seq_len"] - 1)
        assert extra == completions - negatives * (reward == "bleu")
    for run in result["runs"]:
        assert run["updates"] == [0, 2, 4] and Path(run["checkpoint"]).is_file()
        assert len(run["train_s"]) == 3 and run["train_s"] == sorted(run["train_s"])
        assert run["train_s"][-1] <= run["wall_s"]
    assert (folder / "compare_intermediate_rewards.png").stat().st_size > 0
    assert "| discriminator | prefix_discriminator |" in stdout and "smoke preset" in stdout


def test_ppo_speed_quick(tmp_path):
    out = tmp_path / "ppo_speed.json"
    stdout = _run("ppo_speed.py", "--out", str(out))
    result = json.loads(out.read_text())
    assert result["quick"] and result["machine"]["torch_threads"] == [1]
    assert [r["variant"] for r in result["results"]] == result["variants"]  # smoke sizes, 1 thread
    for row in result["results"]:
        assert row["steps_per_update"] == 16 * 10 and row["steps_per_s"] > 0
        assert (row["paired_speedup_vs_previous"] is None) == (row["variant"] == "before")
        assert 0 < row["collect_s"] + row["train_s"] <= row["wall_s"] * 1.05
    assert result["breakdown"]["parts_s"] and result["top_ops"]
    assert set(result["machine"]["matmul_gflops_fp32_2048"]) == {"1"}
    assert all(rate > 0 for rate in result["machine"]["matmul_gflops_fp32_2048"]["1"])
    assert "| smoke (200, 10, 16) | 1 | before |" in stdout
