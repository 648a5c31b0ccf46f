"""Worker backends of the host evaluator: a spawned local process pool, or Ray actors.

Both run the same job (`run_job`) on a task each worker builds once from (env, config), so a chunk
gives bitwise the same result wherever it runs. Only plain data crosses processes: dicts of numpy
arrays, lists of JSON-like payloads, numbers, strings. Chunks are dispatched one at a time to
whichever worker is idle and their results are put back by chunk index, so completion order never
matters. A worker that dies is reported in one line through `report`, replaced, and its chunk re-run;
a chunk that kills `MAX_DEATHS` workers in a row stops the evaluation with an error.

Each worker exits when the run that started it dies (SIGKILL included): local workers watch their
parent's pid; Ray actors watch the driver's pid when they run on its machine, and are killed by
Ray with their job otherwise.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from typing import Any, Callable

import numpy as np

MAX_DEATHS = 3  # deaths of workers on one chunk before the evaluation gives up


class EvaluationError(RuntimeError):
    """A task raised inside a worker (the traceback text is in the message)."""


def _exit_with_parent(parent: int) -> None:
    """A killed run (SIGKILL) cannot shut its workers down: they leave when their parent does."""
    while _alive(parent):
        time.sleep(1.0)
    os._exit(0)


def _alive(pid: int) -> bool:
    if os.getppid() == pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch_parent(parent: int) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def make_task(env: str, cfg: dict):
    """The task of a registered env name, or of "package.module:Class" (a task class outside the
    registry, e.g. a test's), built from the run's config, under the run's JAX settings (a
    worker draws the same random numbers as the run's process)."""
    from evoflow.tasks import TASKS

    if "threefry_partitionable" in cfg:
        from evoflow.engine.prng import apply_run_settings

        apply_run_settings(cfg)

    if env not in TASKS and ":" in env:
        import importlib

        module, _, name = env.partition(":")
        return getattr(importlib.import_module(module), name)(cfg)
    return TASKS[env].make(cfg)


def load_decoder(name: str | None) -> Callable | None:
    """The function "module:name" that builds a chunk's parameters from per-individual payloads
    (a strategy's `host_decoder`); only evoflow's own modules are imported."""
    if name is None:
        return None
    import importlib

    module, _, attr = name.partition(":")
    if not (module == "evoflow" or module.startswith("evoflow.")) or not attr:
        raise ValueError(f"host decoder {name!r}: must be 'evoflow.<module>:<function>'")
    return getattr(importlib.import_module(module), attr)


def run_job(task, rows: dict, population, seeds: np.ndarray, broadcast,
            decode: Callable | None = None) -> dict:
    """Evaluate one chunk; the result as plain data: {fitness, descriptor, extras}. With a
    decoder, `population` holds payloads that it turns into parameters first."""
    from evoflow.tasks.base import Evaluation

    if decode is not None:
        population = np.asarray(decode(task, population, broadcast))
    out = task.evaluate_host(rows, population, seeds, broadcast)
    if not isinstance(out, Evaluation):
        out = Evaluation(fitness=out)
    return {"fitness": np.asarray(out.fitness),
            "descriptor": None if out.descriptor is None else np.asarray(out.descriptor),
            "extras": _to_numpy(out.extras)}


def _to_numpy(tree):
    if isinstance(tree, dict):
        return {k: _to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree)


def _died(report, pid, how: str, k: int, deaths: dict) -> None:
    deaths[k] = deaths.get(k, 0) + 1
    if deaths[k] >= MAX_DEATHS:
        raise EvaluationError(f"evaluation chunk {k} killed {deaths[k]} workers (last: pid {pid}, "
                              f"{how}); giving up")
    report(f"worker pid {pid} died ({how}); re-running chunk {k}")


# ----------------------------------------------------------------------------------------------
# local process pool

def _local_worker(conn, env: str, cfg: dict, parent: int, decoder: str | None) -> None:
    _watch_parent(parent)
    task = error = decode = None
    try:
        task = make_task(env, cfg)
        decode = load_decoder(decoder)
    except BaseException:  # reported on the first job, not lost in a dead process
        import traceback

        error = traceback.format_exc()
    broadcast = (None, None)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        if msg[0] == "broadcast":
            broadcast = (msg[1], msg[2])
            continue
        _, k, rows, population, seeds, gen = msg
        if error is None:
            try:
                assert gen is None or broadcast[0] == gen, "stale broadcast"
                out = ("ok", k, run_job(task, rows, population, seeds,
                                        broadcast[1] if gen is not None else None, decode))
            except Exception:
                import traceback

                out = ("error", k, traceback.format_exc())
        else:
            out = ("error", k, error)
        conn.send(out)


class _LocalWorker:
    def __init__(self, ctx, env, cfg, decoder):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_local_worker,
                                args=(child, env, cfg, os.getpid(), decoder),
                                daemon=True, name="evoflow-eval-worker")
        self.proc.start()
        child.close()
        self.gen = None  # the broadcast generation this worker holds

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, msg) -> None:
        try:
            self.conn.send(msg)
        except (BrokenPipeError, ConnectionError, OSError):
            pass  # dead: its sentinel says so

    def close(self, timeout: float = 2.0) -> None:
        self.send(("stop",))
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class LocalPool:
    """`n` spawned worker processes, each with its own task."""

    def __init__(self, env: str, cfg: dict, n: int, report: Callable[[str], None],
                 decoder: str | None = None):
        import multiprocessing as mp

        self.ctx = mp.get_context("spawn")
        self.env, self.cfg, self.report, self.decoder = env, cfg, report, decoder
        self.workers = [_LocalWorker(self.ctx, env, cfg, decoder) for _ in range(n)]

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def run(self, jobs: list[tuple], gen: int | None, broadcast: Any) -> list[dict]:
        from multiprocessing.connection import wait

        results: list[dict | None] = [None] * len(jobs)
        pending = deque(range(len(jobs)))
        busy: dict[int, int] = {}  # worker index -> chunk index
        deaths: dict[int, int] = {}
        while pending or busy:
            for i, w in enumerate(self.workers):
                if i in busy or not pending:
                    continue
                k = pending.popleft()
                if gen is not None and w.gen != gen:
                    w.send(("broadcast", gen, broadcast))
                    w.gen = gen
                w.send(("chunk", k, *jobs[k], gen))
                busy[i] = k
            handles = {}
            for i in busy:
                handles[self.workers[i].conn] = i
                handles[self.workers[i].proc.sentinel] = i
            ready = set(wait(list(handles)))
            for i, k in list(busy.items()):
                w = self.workers[i]
                msg = None
                if w.conn in ready:
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        msg = None
                elif w.proc.sentinel not in ready:
                    continue
                if msg is None:  # the process is gone
                    w.proc.join()
                    code = w.proc.exitcode
                    how = f"signal {-code}" if code is not None and code < 0 else f"exit {code}"
                    w.conn.close()
                    del busy[i]
                    pending.appendleft(k)
                    _died(self.report, w.pid, how, k, deaths)
                    self.workers[i] = _LocalWorker(self.ctx, self.env, self.cfg, self.decoder)
                    continue
                del busy[i]
                status, k_done, value = msg
                if status != "ok":
                    raise EvaluationError(f"evaluation chunk {k_done} failed in worker pid "
                                          f"{w.pid}:\n{value}")
                results[k_done] = value
        return results

    def close(self) -> None:
        for w in self.workers:
            w.close()
        self.workers = []


# ----------------------------------------------------------------------------------------------
# Ray

def _quiet_ray_env() -> None:
    # Before ray.init: no usage-stats banner, no dashboard, no worker log lines on the terminal.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


# A local Ray's agents (children of its raylet) outlive a SIGKILLed driver; this watchdog, started
# right after ray.init, remembers the driver's descendants and kills them once the driver is gone.
_WATCHDOG = r"""
import sys, time, psutil
driver = psutil.Process(int(sys.argv[1]))
me = psutil.Process()
seen = {}
while driver.is_running():
    try:
        for p in driver.children(recursive=True):
            if p.pid != me.pid:
                seen.setdefault(p.pid, p)
    except psutil.Error:
        pass
    time.sleep(0.5)
for p in seen.values():
    try:
        if p.is_running():
            p.kill()
    except psutil.Error:
        pass
"""


def _start_watchdog():
    import subprocess
    import sys

    try:
        import psutil  # noqa: F401  (a dependency of Ray)
    except ImportError:
        return None
    return subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid())],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _mute_worker_death_banner() -> None:
    """Ray's driver prints raylet's multi-line "A worker died or was killed ..." message on the
    terminal; the pool reports each death in one line itself, so that message is dropped. Other
    raylet messages pass. A no-op where Ray's internals differ."""
    try:
        from ray._private import worker as ray_worker
    except ImportError:
        return
    orig = getattr(ray_worker, "print_to_stdstream", None)
    if orig is None or getattr(orig, "_evoflow_muted", False):
        return

    def print_to_stdstream(data, *args, **kwargs):
        lines = data.get("lines", []) if isinstance(data, dict) else []
        if data.get("pid") == "raylet" and any("A worker died or was killed" in str(x)
                                               for x in lines):
            return None
        return orig(data, *args, **kwargs)

    print_to_stdstream._evoflow_muted = True
    ray_worker.print_to_stdstream = print_to_stdstream


class _RayWorkerImpl:
    """The body of a Ray actor: the task built once, the generation's broadcast held."""

    def __init__(self, env: str, cfg: dict, host: str, parent: int, decoder: str | None):
        if host == socket.gethostname():
            _watch_parent(parent)
        self.task = make_task(env, cfg)
        self.decode = load_decoder(decoder)
        self.broadcast = (None, None)

    def pid(self) -> int:
        return os.getpid()

    def set_broadcast(self, gen: int, data) -> None:
        self.broadcast = (gen, data)

    def evaluate(self, rows, population, seeds, gen):
        if gen is not None and self.broadcast[0] != gen:
            raise RuntimeError("stale broadcast")
        return run_job(self.task, rows, population, seeds,
                       self.broadcast[1] if gen is not None else None, self.decode)


class RayPool:
    """`n` Ray actors. Starts a quiet local Ray (stopped by close) unless `address` is given
    (joined, never stopped) or Ray is already initialized in this process (left as it is)."""

    def __init__(self, env: str, cfg: dict, n: int, report: Callable[[str], None],
                 address: str | None = None, decoder: str | None = None):
        import logging

        _quiet_ray_env()
        import ray

        self.ray = ray
        self.owns = False
        self._watchdog = None
        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, log_to_driver=False,
                          logging_level=logging.ERROR, configure_logging=True)
            import warnings

            with warnings.catch_warnings():  # Ray starts its services by fork+exec; JAX warns
                warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
                if address is None:
                    ray.init(address="local", num_cpus=n, **kwargs)  # never a stale cluster
                    self.owns = True
                    self._watchdog = _start_watchdog()
                else:
                    try:
                        ray.init(address=address, **kwargs)
                    except (ConnectionError, RuntimeError, ValueError) as e:
                        from evoflow.errors import UsageError

                        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                        raise UsageError(f"--set ray_address={address}: cannot join the Ray "
                                         f"cluster ({first})") from None
        _mute_worker_death_banner()
        self._cls = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_RayWorkerImpl)
        self.env, self.cfg, self.report, self.decoder = env, cfg, report, decoder
        self.actors = [self._start() for _ in range(n)]

    def _start(self):
        actor = self._cls.remote(self.env, self.cfg, socket.gethostname(), os.getpid(),
                                 self.decoder)
        return {"actor": actor, "gen": None, "pid": None, "pid_ref": actor.pid.remote()}

    def _pid(self, a) -> int | str:
        if a["pid"] is None:
            try:
                a["pid"] = self.ray.get(a["pid_ref"], timeout=60)
            except Exception:
                return "?"
        return a["pid"]

    def pids(self) -> list:
        return [self._pid(a) for a in self.actors]

    def run(self, jobs: list[tuple], gen: int | None, broadcast: Any) -> list[dict]:
        ray = self.ray
        from ray.exceptions import RayActorError, RayTaskError

        results: list[dict | None] = [None] * len(jobs)
        pending = deque(range(len(jobs)))
        busy: dict = {}  # object ref -> (actor index, chunk index)
        idle = set(range(len(self.actors)))
        deaths: dict[int, int] = {}
        bref = ray.put(broadcast) if gen is not None else None
        while pending or busy:
            for i in sorted(idle):
                if not pending:
                    break
                a = self.actors[i]
                k = pending.popleft()
                if gen is not None and a["gen"] != gen:
                    a["actor"].set_broadcast.remote(gen, bref)  # actor calls run in order
                    a["gen"] = gen
                busy[a["actor"].evaluate.remote(*jobs[k], gen)] = (i, k)
                idle.discard(i)
            # Nothing left to hand out: wait for every running chunk in one call.
            done, _ = ray.wait(list(busy), num_returns=1 if pending else len(busy))
            for ref in done:
                i, k = busy.pop(ref)
                try:
                    results[k] = ray.get(ref)
                except RayActorError as e:
                    import re

                    found = re.search(r"pid: (\d+)", str(e))
                    pid = self.actors[i]["pid"] or (int(found.group(1)) if found else "?")
                    pending.appendleft(k)
                    _died(self.report, pid, type(e).__name__, k, deaths)
                    self.actors[i] = self._start()
                except RayTaskError as e:
                    raise EvaluationError(f"evaluation chunk {k} failed in Ray worker pid "
                                          f"{self._pid(self.actors[i])}:\n{e}") from None
                else:
                    self._pid(self.actors[i])  # known before it could die
                idle.add(i)
        return results

    def close(self) -> None:
        for a in self.actors:
            try:
                self.ray.kill(a["actor"])
            except Exception:
                pass
        self.actors = []
        if self.owns and self.ray.is_initialized():
            self.ray.shutdown()
            self.owns = False
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
