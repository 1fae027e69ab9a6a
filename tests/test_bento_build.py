"""`bentoml build` packages the service with the same pins, ffmpeg, and a CUDA image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.processes import ROOT


def test_bentoml_build(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "bentoml"), "build", "--output", "tag"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [bento] = list((tmp_path / "bentos" / "chatterbox-tts-extended-plus").glob("*/bento.yaml"))
    folder = bento.parent
    dockerfile = (folder / "env" / "docker" / "Dockerfile").read_text()
    assert "FROM nvidia/cuda:12.8" in dockerfile and "ffmpeg" in dockerfile
    assert (folder / "env" / "python" / "requirements.txt").read_text().startswith((ROOT / "requirements.lock").read_text())
    assert "--no-deps" in (folder / "env" / "python" / "install.sh").read_text()
    assert (folder / "src" / "service.py").is_file() and (folder / "src" / "config" / "default.yaml").is_file()
    assert (folder / "src" / "db" / "migrations" / "env.py").is_file() and list((folder / "src" / "db" / "migrations" / "versions").glob("0001_*.py"))
    assert not (folder / "src" / "tests").exists()
    packages = {init.parent.name for init in ROOT.glob("*/__init__.py")} - {"tests", "scripts", "benchmarks", "harness"}
    missing = sorted(package for package in packages if not (folder / "src" / package / "__init__.py").is_file())
    assert not missing, f"bentofile.yaml does not include {missing}"
