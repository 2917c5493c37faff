"""Installing the project must give one package, seqgan_gym, never top-level `envs`/`agents`."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_only_the_seqgan_gym_package(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("seqgan_gym-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"seqgan_gym", next(t for t in tops if t.endswith(".dist-info"))}, tops
    assert "seqgan_gym/envs/__init__.py" in names
    assert "seqgan_gym/agents/__init__.py" in names
    for module in ("seqgan_gym/_kernels/threads.py", "seqgan_gym/agents/sb3/policies.py"):  # sub-packages
        assert module in names
    # the bundled MIT corpora and their licences travel with the package (the GPL tunes never do)
    for data in ("chinese_poems/shi.txt", "image_coco_tokenized/train.txt", "image_coco_tokenized/test.txt",
                 "Texygen-MIT.txt", "TextBox-MIT.txt", "README.md"):
        assert f"seqgan_gym/data/datasets/{data}" in names
    assert not any(n.endswith(".abc") for n in names)
    # the bundled sweep specs (seqgan-gym sweep compare-rewards, ...)
    for spec in ("compare_rewards", "compare_rewards_quick", "compare_algorithms", "schedules",
                 "paper_study"):
        assert f"seqgan_gym/run/sweeps/{spec}.toml" in names
    assert not any(n.startswith(("envs/", "agents/", "tests/", "benchmarks/")) for n in names)


def test_subpackages_import_from_the_package():
    import seqgan_gym.agents
    import seqgan_gym.envs

    assert Path(seqgan_gym.envs.__file__).parent == ROOT / "envs"
    assert Path(seqgan_gym.agents.__file__).parent == ROOT / "agents"
