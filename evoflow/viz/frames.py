"""MuJoCo frames of rollouts: ≤ 60 per policy, 160×120 RGB, for `viz/rollouts.npz`.

Rendering runs in a child process (`python -m evoflow.viz.frames DIR`): MuJoCo picks its GL
backend when it is first imported (`MUJOCO_GL`, `osmesa` here unless the user set one), a
missing or broken GL library can crash the process that tries, and the parent has usually
imported MuJoCo already (brax does). The parent hands over the model as MJB bytes and the
generalized positions of the steps to draw; the child writes the frames back. Any failure is one
line saying why, and the rollouts keep their x-y paths.
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HEIGHT, WIDTH = 120, 160
MAX_FRAMES = 60
TIMEOUT_S = 600
OSMESA_HINT = "MuJoCo could not create an OSMesa context (apt-get install libosmesa6)"


def frame_steps(T: int, n: int = MAX_FRAMES) -> np.ndarray:
    """Indices of the (at most n) steps drawn, evenly spaced over 0..T-1, first and last
    included; the page shows frame floor(t * F / T) at step t."""
    return np.unique(np.linspace(0, T - 1, min(n, T)).round().astype(np.int64))


def model_bytes(mj_model) -> bytes:
    """A MuJoCo model as MJB (its binary format), to rebuild it in another process."""
    import mujoco

    buf = np.zeros(mujoco.mj_sizeModel(mj_model), np.uint8)
    mujoco.mj_saveModel(mj_model, None, buf)
    return buf.tobytes()


def render(mjb: bytes, qpos: np.ndarray, *, timeout: float = TIMEOUT_S
           ) -> tuple[np.ndarray | None, str | None]:
    """Frames (k, F, HEIGHT, WIDTH, 3) uint8 of qpos (k, F, nq), and None; or None and one line
    saying why there are none."""
    env = dict(os.environ)
    env.setdefault("MUJOCO_GL", "osmesa")
    gl = env["MUJOCO_GL"].lower()
    if gl == "osmesa" and ctypes.util.find_library("OSMesa") is None:
        return None, OSMESA_HINT
    with tempfile.TemporaryDirectory(prefix="evoflow-frames-") as tmp:
        d = Path(tmp)
        (d / "model.mjb").write_bytes(mjb)
        np.save(d / "qpos.npy", np.asarray(qpos, np.float64), allow_pickle=False)
        try:
            p = subprocess.run([sys.executable, "-m", "evoflow.viz.frames", str(d)], env=env,
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"MuJoCo rendering (MUJOCO_GL={gl}) took over {timeout:g} s"
        out = d / "frames.npy"
        if p.returncode != 0 or not out.is_file():
            lines = [ln.strip() for ln in (p.stderr or "").splitlines() if ln.strip()]
            why = lines[-1] if lines else f"exit status {p.returncode}"
            if gl == "osmesa":
                return None, f"{OSMESA_HINT}: {why}"
            return None, f"MuJoCo could not render with MUJOCO_GL={gl}: {why}"
        return np.load(out, allow_pickle=False), None


def _camera(model):
    """A camera that follows the root body from behind and above."""
    import mujoco

    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    cam.trackbodyid = 1 if model.nbody > 1 else 0
    cam.distance = 4.0
    cam.elevation = -25.0
    cam.azimuth = 90.0
    return cam


def _soften_textures(model, keep: float = 0.35) -> None:
    """2-D textures (the checkered floor) pulled toward mid grey: the robot stands out, and its
    JPEG frames are ~40% smaller (brax ant, 160x120, quality 70: 3.9 KB instead of 5.5 KB)."""
    import mujoco

    for t in range(model.ntex):
        if model.tex_type[t] != mujoco.mjtTexture.mjTEXTURE_2D:
            continue
        adr = model.tex_adr[t]
        n = model.tex_width[t] * model.tex_height[t] * model.tex_nchannel[t]
        data = model.tex_data[adr:adr + n].astype(np.float64)
        model.tex_data[adr:adr + n] = np.round(128 + keep * (data - 128)).astype(np.uint8)


def _child(folder: Path) -> None:
    import mujoco

    model = mujoco.MjModel.from_binary_path(str(folder / "model.mjb"))
    _soften_textures(model)
    qpos = np.load(folder / "qpos.npy", allow_pickle=False)
    data = mujoco.MjData(model)
    cam = _camera(model)
    frames = np.zeros((*qpos.shape[:2], HEIGHT, WIDTH, 3), np.uint8)
    renderer = mujoco.Renderer(model, HEIGHT, WIDTH)
    # No shadows, reflections or skybox: with software OpenGL (OSMesa) a brax ant frame takes
    # ~10 ms instead of ~70 ms.
    off = (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
           mujoco.mjtRndFlag.mjRND_SKYBOX)
    try:
        for i in range(qpos.shape[0]):
            for j in range(qpos.shape[1]):
                data.qpos[:] = qpos[i, j]
                mujoco.mj_forward(model, data)
                renderer.update_scene(data, camera=cam)
                for flag in off:
                    renderer.scene.flags[flag] = 0
                frames[i, j] = renderer.render()
    finally:
        renderer.close()  # before interpreter shutdown: a GL context freed late logs errors
    np.save(folder / "frames.tmp.npy", frames, allow_pickle=False)
    os.replace(folder / "frames.tmp.npy", folder / "frames.npy")


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
