"""``seqgan-gym sweep --address`` on a Ray cluster of several nodes, all on this machine
(``ray.cluster_utils.Cluster``, as Ray's own tests do; one CPU per node, and a head node of no CPU,
so that which node a trial runs on follows from the nodes there are):

- two trials run one on each of two nodes, and each trial's record names its node; the node of one
  of them is removed while that trial's run waits at an adversarial step (``SEQGAN_GYM_PAUSE_AT``,
  set in that node's environment only), and Tune starts the trial again on the other node, where
  it resumes from ``checkpoints/resume.pt`` to the same numbers as the other, uninterrupted trial
  (the same settings);
- a trial that Ray gives a GPU torch cannot use (a node declaring a GPU this machine does not have)
  stops the sweep with one line naming the trial, the GPU and the node;
- a trial on a node that does not see ``--out`` stops the sweep with one line naming the path and
  the node. That node is a real Ray node started in a mount namespace of its own (``unshare``), with
  an empty file system mounted over the folder that holds ``--out``: the same path, another folder,
  as on a node where the shared storage is not mounted. Where this machine allows no namespace (no
  privilege, or user namespaces disabled), that test is skipped and says so.

Nothing here waits on a guessed time: the test waits for the paused run's ``paused`` file, for a
node to join, and for each sweep to end (with generous deadlines, for a loaded machine).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

# two configurations with the same settings: `a` and `b` must end with the same numbers, however
# they ran; the smoke preset, 4 MLE epochs, 4 adversarial iterations, evaluated every 2
SPEC = """
name = "cluster"
preset = "smoke"
seeds = [0]
baseline = "a"
[set]
adv_iterations = 4
eval_every = 2
[[configs]]
name = "a"
[[configs]]
name = "b"
"""

# one trial that trains nothing (it needs only to start)
TINY = """
name = "tiny"
preset = "smoke"
seeds = [0]
[set]
mle_epochs = 0
adv_iterations = 0
reward = "bleu"
"""

PAUSE_AT = "adversarial,2"  # an evaluation step with a resume.pt; the run goes on to step 4
DEADLINE_S = 240  # for a sweep, or a wait within one, on a loaded machine; a sweep here takes ~20 s


@pytest.fixture(scope="module")
def cluster():
    """A Ray cluster of one head node with no CPU (the sweep's driver joins it, no trial runs on
    it); each test adds the nodes it needs and removes them."""
    pytest.importorskip("ray", reason="needs Ray Tune (pip install -e '.[ray]'; .ci/run installs it)")
    pytest.importorskip("ray.tune", reason="needs Ray Tune (pip install -e '.[ray]')")
    import ray._common.utils
    import ray._private.utils
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Cluster writes the head's address to /tmp/ray/ray_current_cluster, where a bare ray.init() of
    # another test running beside this one (pytest-xdist) would find it and join it, and deletes
    # that file as it shuts down, whoever wrote it: neither here
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray._private.utils, "write_ray_address", lambda *args, **kwargs: None)
        head = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    yield head
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray._common.utils, "reset_ray_address", lambda *args, **kwargs: None)
        head.shutdown()


def _sweep(cluster, spec: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen([sys.executable, "-m", "seqgan_gym.run.cli", "sweep", str(spec),
                             "--out", str(out), "--address", cluster.address,
                             "--cpus-per-trial", "1", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(sweep: subprocess.Popen) -> tuple[int, str, str]:
    try:
        stdout, stderr = sweep.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        sweep.kill()
        stdout, stderr = sweep.communicate()
        pytest.fail(f"the sweep took over {DEADLINE_S} s:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return sweep.returncode, stdout, stderr


def _sweep_here(cluster, capsys, spec: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    """A sweep that ends at once, run in this process (its driver joins the cluster, then leaves)."""
    from seqgan_gym.run.cli import main

    code = main(["sweep", str(spec), "--out", str(out), "--address", cluster.address, "--cpus-per-trial", "1",
                 *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _error_line(code: int, stdout: str, stderr: str) -> str:
    """The sweep's one line of error (stderr holds Ray's own log lines of joining the cluster too)."""
    lines = stderr.strip().splitlines()
    ours = [line for line in lines if line.startswith("seqgan-gym: error: ")]
    assert code == 2 and ours == lines[-1:], stdout[-3000:] + stderr[-3000:]
    assert "Traceback" not in stdout + stderr and "done" not in stdout, stdout[-3000:] + stderr[-3000:]
    return ours[0]


def _outcome(run_dir: Path) -> list[list[str]]:
    """metrics.csv without its wall-time column."""
    return [row[:2] + row[3:] for row in csv.reader((run_dir / "metrics.csv").read_text().splitlines())]


def _attempts(out: Path, trial: str) -> list[dict]:
    return json.loads((out / "trials" / f"{trial}.json").read_text())["attempts"]


def _remove(cluster, *nodes) -> None:
    for node in nodes:
        if node in cluster.worker_nodes:
            cluster.remove_node(node)


def test_trials_run_on_both_nodes_and_one_whose_node_dies_resumes_on_the_other(cluster, tmp_path):
    # the node whose runs wait at PAUSE_AT (its Ray's environment, which its trials inherit)
    doomed = cluster.add_node(num_cpus=1, env_vars={"SEQGAN_GYM_PAUSE_AT": PAUSE_AT})
    steady = cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        spec, out = tmp_path / "cluster.toml", tmp_path / "shared" / "out"
        spec.write_text(SPEC)
        sweep = _sweep(cluster, spec, out)
        deadline, paused = time.time() + DEADLINE_S, []
        while not paused and sweep.poll() is None and time.time() < deadline:
            paused = list(out.glob("runs/*/paused"))
            time.sleep(0.05)
        assert paused, f"no run paused at {PAUSE_AT}: {_finish(sweep)}"
        killed = paused[0].parent.name  # whichever trial Tune gave the doomed node
        assert _attempts(out, killed)[-1]["node_id"] == doomed.node_id
        cluster.remove_node(doomed)  # its raylet and workers, the trial's training process with them
        code, stdout, stderr = _finish(sweep)
    finally:
        _remove(cluster, doomed, steady)
    assert code == 0, stdout[-3000:] + stderr[-3000:]
    other = ({"a-seed0", "b-seed0"} - {killed}).pop()
    # each attempt names the Ray node it ran on: one trial on each node, the killed one then on the other
    first, second = _attempts(out, killed)
    assert (first["node_id"], second["node_id"]) == (doomed.node_id, steady.node_id)
    assert first["node_ip"] == second["node_ip"] == steady.node_ip_address  # one machine: one IP
    assert first["end"] == "did not end: its process or Ray worker was killed or stopped"
    assert second["how"] == "resumed from checkpoints/resume.pt"
    # from the last resume.pt before the pause (written after the step's row: step 1, and step 2 again)
    assert second["resumed_after"].startswith("adversarial step ") and second["end"] == "completed"
    assert [(a["node_id"], a["how"], a["end"]) for a in _attempts(out, other)] == [
        (steady.node_id, "fresh", "completed")]
    assert f"[sweep] {killed}: its process or worker died (failure 1)" in stdout
    # the resumed run equals the uninterrupted one, row for row (wall time aside)
    assert _outcome(out / "runs" / killed) == _outcome(out / "runs" / other)
    # only the first attempt paused: the variable is in the removed node's environment alone
    assert [path.parent.name for path in out.glob("runs/*/paused")] == [killed]
    summary = json.loads((out / "sweep.json").read_text())["summary"]
    assert summary["a"]["n"] == summary["b"]["n"] == 1


def test_a_gpu_torch_cannot_use_stops_the_sweep_in_one_line(cluster, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the GPU Ray gives a trial would be usable")
    gpu_node = cluster.add_node(num_cpus=1, num_gpus=1)  # declares a GPU the machine does not have
    try:
        cluster.wait_for_nodes()
        spec, out = tmp_path / "tiny.toml", tmp_path / "out"
        spec.write_text(TINY)
        code, stdout, stderr = _sweep_here(cluster, capsys, spec, out, "--gpus-per-trial", "1")
    finally:
        _remove(cluster, gpu_node)
    line = _error_line(code, stdout, stderr)
    assert line.startswith(
        "seqgan-gym: error: base-seed0: Ray gave it GPU 0 (CUDA_VISIBLE_DEVICES=0) on node "
        f"{gpu_node.node_ip_address} (")
    assert f"Ray node {gpu_node.node_id[:12]}), but torch cannot use it there: " \
           f"torch.cuda.is_available() is False (torch {torch.__version__}, " in line
    assert line.endswith(f"The sweep stopped; fix that node, then continue with: seqgan-gym sweep "
                             f"{spec} --out {out} --resume")
    assert not (out / "runs").exists()  # nothing trained, on CPU or otherwise
    assert "stopped" in json.loads((out / "sweep_spec.json").read_text())["run"]


def _can_unshare(folder: Path) -> list[str] | None:
    """The unshare command that gives a process its own mount namespace here, or None."""
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        return None
    command = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:  # an unprivileged user namespace, where the kernel allows one
        command.insert(1, "--map-root-user")
    probe = subprocess.run([*command, "mount", "-t", "tmpfs", "tmpfs", str(folder)], capture_output=True)
    return command if probe.returncode == 0 else None


# a Ray worker node started as ray.cluster_utils.Cluster.add_node starts one, in this process: it
# prints its node id, and stops its processes when its stdin closes
NODE = """
import sys
from ray._private.node import Node
from ray._private.parameter import RayParams
from ray._private.services import wait_for_node

params = RayParams(gcs_address=sys.argv[1], num_cpus=1, num_gpus=0, object_store_memory=150 * 1024 * 1024,
                   min_worker_port=0, max_worker_port=0, node_manager_port=0, include_log_monitor=False)
params.dashboard_agent_listen_port = None
node = Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
wait_for_node(node.gcs_address, node.plasma_store_socket_name, 60)
print(node.node_id, flush=True)
sys.stdin.read()
node.kill_all_processes(check_alive=False, allow_graceful=True, wait=True)
"""


def test_a_node_that_does_not_see_out_stops_the_sweep_in_one_line(cluster, tmp_path, capsys):
    shared = tmp_path / "shared"  # the "shared storage": --out is in it
    shared.mkdir()
    unshare = _can_unshare(shared)
    if unshare is None:
        pytest.skip("needs a mount namespace (unshare --mount, as root or in a user namespace) to start "
                    "a Ray node that does not see --out; this machine allows none")
    # a node with a file-system view of its own: an empty tmpfs over `shared`, as on a node where the
    # shared storage is not mounted (the mount point is there, empty)
    blind = subprocess.Popen([*unshare, "sh", "-c", 'mount -t tmpfs tmpfs "$0" && exec "$@"', str(shared),
                              sys.executable, "-c", NODE, cluster.address],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        node_id = blind.stdout.readline().strip()  # once the node has joined
        assert node_id, "the node in its own mount namespace did not start"
        spec, out = tmp_path / "tiny.toml", shared / "out"
        spec.write_text(TINY)
        code, stdout, stderr = _sweep_here(cluster, capsys, spec, out)
    finally:
        blind.communicate(timeout=120)  # stdin closed: the node stops its processes
    line = _error_line(code, stdout, stderr)
    assert line.startswith(f"seqgan-gym: error: base-seed0: --out {out} is not the sweep's folder on node ")
    assert f"Ray node {node_id[:12]}) (there it does not exist): --out must be on storage every node " \
           "sees at the same path. The sweep stopped" in line
    assert (out / "sweep_spec.json").is_file()  # where the sweep (on the head) wrote it
    assert not (out / "runs").exists() and not (out / "trials").exists()
