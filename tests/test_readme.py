"""The README's code runs as written: every ```python block (and the ```bash block before a python
block that reads its output), in order, in a fresh folder, in a fresh process."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```(python|bash)\n(.*?)```", re.DOTALL)


def _uses_blocks() -> list[tuple[str, str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Three uses"):readme.index("## Results")]
    return BLOCK.findall(section)


def test_the_three_uses_run_as_written(tmp_path):
    blocks = _uses_blocks()
    assert [kind for kind, _ in blocks].count("python") == 3
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    bin_dir = Path(sys.executable).parent
    for kind, code in blocks:
        if kind == "python":
            done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=280)
        else:
            argv = shlex.split(code.strip())
            assert argv[0] == "seqgan-gym", code
            done = subprocess.run([str(bin_dir / "seqgan-gym"), *argv[1:]], cwd=tmp_path,
                                  env=env, capture_output=True, text=True, timeout=280)
        assert done.returncode == 0, f"{code}\n{done.stderr[-2000:]}"
    first = subprocess.run([sys.executable, "-c", blocks[0][1]], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=120).stdout
    returned, score = re.search(r"return (\S+) = score Q_T (\S+)", first).groups()
    assert abs(float(returned) - float(score)) < 1e-4  # the rewards sum to the score
