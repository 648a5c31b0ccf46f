"""What the benchmarks record about the machine they ran on (imported as `_machine` by the
scripts in this folder, which run as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the SIMD flags that matter to XLA's CPU code
FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
         "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def cpu_flags() -> str:
    """The FLAGS that /proc/cpuinfo lists ('' where unknown)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return " ".join(f for f in FLAGS if f in have)
    except OSError:
        pass
    return ""


def commit() -> str:
    """The checkout's commit, and whether evoflow/ or envs/ differ from it."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "evoflow", "envs")
    return f"evoflow commit {head}" + (" (+ uncommitted changes under evoflow/ or envs/)"
                                       if dirty else "")
