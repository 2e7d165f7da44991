"""Runs a test script with the Triton kernels on the CPU by Triton's interpreter (TRITON_INTERPRET=1, read at import,
hence a subprocess); the script prints "ok" when its checks pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_interpreted(script: str) -> None:
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout
