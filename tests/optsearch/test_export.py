"""Export (issue 19 item 6, acceptance 1-2): the torch module of `lion` is lion_pytorch's Lion to
1e-12 in float64, every op of the IR exports to torch and optax with the reference semantics,
and a program file that tries to smuggle code is refused before anything is written."""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evoflow.algorithms.optsearch import export, ir

torch = pytest.importorskip("torch")
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import programs  # noqa: E402

def cli(*args: str) -> int:
    from typer.testing import CliRunner

    from evoflow.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code


SETTINGS = [(1e-4, 10.0, (0.9, 0.99)), (1e-3, 0.1, (0.9, 0.99)), (3e-3, 1.0, (0.95, 0.98))]


def load_module(source: str, path: Path):
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def lion_mod(tmp_path_factory):
    """The module `evoflow export --program lion --format torch` writes."""
    out = tmp_path_factory.mktemp("export") / "lion_opt.py"
    assert cli("export", "--program", "lion", "--format", "torch", "--out", str(out)) == 0
    spec = importlib.util.spec_from_file_location("lion_opt", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def mlp(dtype, seed=0):
    """~5k parameters: 48 -> 64 -> 24 -> 10."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(48, 64), torch.nn.Tanh(), torch.nn.Linear(64, 24),
                              torch.nn.Tanh(), torch.nn.Linear(24, 10)).to(dtype)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(128, 48, generator=gen, dtype=dtype)
    y = torch.randint(0, 10, (128,), generator=gen)
    return net, x, y


def closed_loop(make_opt, dtype, steps=100):
    net, x, y = mlp(dtype)
    opt = make_opt(net.parameters())
    losses = []
    for _ in range(steps):
        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            return loss
        losses.append(float(opt.step(closure).detach()))
    return [p.detach().clone() for p in net.parameters()], losses


def program1_loop(dtype, steps, lr, wd, b1, b2):
    """Program 1 of Chen et al. written out by hand, tensor by tensor, on the same MLP."""
    net, x, y = mlp(dtype)
    names = [n for n, _ in net.named_parameters()]
    ws = [p.detach().clone() for p in net.parameters()]
    ms = [torch.zeros_like(w) for w in ws]
    for _ in range(steps):
        leaves = [w.clone().requires_grad_(True) for w in ws]
        out = torch.func.functional_call(net, dict(zip(names, leaves)), (x,))
        grads = torch.autograd.grad(torch.nn.functional.cross_entropy(out, y), leaves)
        with torch.no_grad():
            for w, g, m in zip(ws, grads, ms):
                update = (1 - b1) * g + b1 * m
                update = torch.sign(update)
                m.copy_((1 - b2) * g + b2 * m)
                update = (update + w * wd) * lr
                w.sub_(update)
    return ws


def maxdiff(a, b):
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def test_the_module_imports_torch_and_the_standard_library_only(lion_mod):
    tree = ast.parse(Path(lion_mod.__file__).read_text())
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert roots <= {"torch"} | set(sys.stdlib_module_names), roots
    opt = lion_mod.Lion([torch.zeros(3, requires_grad=True)])
    assert opt.defaults == {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0,
                            "foreach": None}


@pytest.mark.parametrize("lr,wd,betas", SETTINGS)
@pytest.mark.parametrize("foreach", [False, True])
def test_lion_float64_closed_loop_matches_lion_pytorch_and_program_1(lion_mod, lr, wd, betas,
                                                                     foreach):
    from lion_pytorch import Lion as RefLion

    ours, _ = closed_loop(lambda ps: lion_mod.Lion(ps, lr=lr, betas=betas, weight_decay=wd,
                                                   foreach=foreach), torch.float64)
    ref, _ = closed_loop(lambda ps: RefLion(ps, lr=lr, betas=betas, weight_decay=wd),
                         torch.float64)
    assert maxdiff(ours, ref) <= 1e-12
    literal = program1_loop(torch.float64, 100, lr, wd, *betas)
    assert maxdiff(ours, literal) <= 1e-12


@pytest.mark.parametrize("foreach", [False, True])
def test_lion_float32_open_loop_within_1e_6(lion_mod, foreach):
    from lion_pytorch import Lion as RefLion

    lr, wd, betas = SETTINGS[0]
    net, x, y = mlp(torch.float32)
    rec = RefLion(net.parameters(), lr=lr, betas=betas, weight_decay=wd)
    start = [p.detach().clone() for p in net.parameters()]
    grads = []
    for _ in range(100):  # record the reference run's gradients (open loop from here on)
        rec.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        grads.append([p.grad.clone() for p in net.parameters()])
        rec.step()
    finals = []
    for make in (lambda ps: lion_mod.Lion(ps, lr=lr, betas=betas, weight_decay=wd,
                                          foreach=foreach),
                 lambda ps: RefLion(ps, lr=lr, betas=betas, weight_decay=wd)):
        ps = [torch.nn.Parameter(s.clone()) for s in start]
        opt = make(ps)
        for gs in grads:
            for p, g in zip(ps, gs):
                p.grad = g.clone()
            opt.step()
        finals.append([p.detach() for p in ps])
    assert maxdiff(*finals) <= 1e-6


def test_lion_float32_closed_loop_losses_within_1e_4(lion_mod):
    from lion_pytorch import Lion as RefLion

    lr, wd, betas = SETTINGS[0]
    _, ours = closed_loop(lambda ps: lion_mod.Lion(ps, lr=lr, betas=betas, weight_decay=wd),
                          torch.float32)
    _, ref = closed_loop(lambda ps: RefLion(ps, lr=lr, betas=betas, weight_decay=wd),
                         torch.float32)
    np.testing.assert_allclose(ours, ref, rtol=1e-4)


def test_param_groups_lambda_lr_and_state_dict(lion_mod):
    from lion_pytorch import Lion as RefLion

    def groups(net):
        layers = list(net.parameters())
        return [{"params": layers[:2]},
                {"params": layers[2:], "lr": 3e-3, "betas": (0.95, 0.98), "weight_decay": 1.0}]

    def run(make, steps, resume_at=None):
        net, x, y = mlp(torch.float64)
        opt = make(groups(net))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1 + t))
        for t in range(steps):
            if t == resume_at:  # a fresh optimizer and scheduler from the state dicts
                saved = copy.deepcopy((opt.state_dict(), sched.state_dict()))
                opt = make(groups(net))
                sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1 + t))
                opt.load_state_dict(saved[0])
                sched.load_state_dict(saved[1])
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
            sched.step()
        return [p.detach() for p in net.parameters()], opt

    ours, opt = run(lambda g: lion_mod.Lion(g, lr=1e-3, weight_decay=0.1), 30)
    ref, _ = run(lambda g: RefLion(g, lr=1e-3, weight_decay=0.1), 30)
    assert maxdiff(ours, ref) <= 1e-12
    resumed, _ = run(lambda g: lion_mod.Lion(g, lr=1e-3, weight_decay=0.1), 30, resume_at=12)
    assert maxdiff(ours, resumed) == 0.0
    assert opt.param_groups[1]["betas"] == (0.95, 0.98)
    assert all(s["m"].dtype == torch.float64 for s in opt.state.values())


def test_step_returns_the_closure_loss_and_skips_params_without_grad(lion_mod):
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    opt = lion_mod.Lion([a, b], lr=0.1)
    loss = opt.step(lambda: (a.sum() * 2).backward() or torch.tensor(7.0))
    assert float(loss) == 7.0
    assert torch.equal(a.detach(), torch.full((3,), 0.9)) and torch.equal(b.detach(),
                                                                          torch.ones(2))
    assert b not in opt.state


def _run_torch(prog, w, gs, foreach, dtype=torch.float64):
    mod = load_module(export.torch_source(prog), Path(os.environ["EXPORT_TMP"])
                      / f"{prog.name}_{foreach}.py")
    params = [torch.nn.Parameter(torch.tensor(x, dtype=dtype)) for x in w]
    opt = getattr(mod, export.class_name(prog))(params, foreach=foreach)
    for g in gs:
        for p, gi in zip(params, g):
            p.grad = torch.tensor(gi, dtype=dtype)
        opt.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("foreach", [False, True])
def test_every_op_exports_to_torch_with_the_reference_semantics(tmp_path, monkeypatch, foreach):
    monkeypatch.setenv("EXPORT_TMP", str(tmp_path))
    w, gs = programs.problem()
    bad = {}
    for key, prog in programs.op_programs().items():
        got = _run_torch(prog, w, gs, foreach)
        want = programs.reference(prog, w, gs)
        err = max(float(np.max(np.abs(a - b) / (1 + np.abs(b)))) for a, b in zip(got, want))
        if not err <= 1e-12:
            bad[key] = err
    assert not bad, bad


@pytest.mark.parametrize("name,direct", [
    ("adamw_nobc", "adamw_nobc"), ("sgd_momentum", "sgd"), ("signsgd", "signsgd")])
def test_other_builtins_match_direct_code(tmp_path, monkeypatch, name, direct):
    monkeypatch.setenv("EXPORT_TMP", str(tmp_path))
    prog = ir.load(name)
    rng = np.random.default_rng(3)
    w = [rng.standard_normal((6, 5)), rng.standard_normal(5)]
    gs = [[rng.standard_normal(x.shape) for x in w] for _ in range(20)]
    for foreach in (False, True):
        got = _run_torch(prog, w, gs, foreach)
        if direct == "sgd":  # torch's own SGD with momentum (dampening 0)
            params = [torch.nn.Parameter(torch.tensor(x)) for x in w]
            opt = torch.optim.SGD(params, lr=prog.default_lr, momentum=0.9, foreach=foreach)
            for g in gs:
                for p, gi in zip(params, g):
                    p.grad = torch.tensor(gi)
                opt.step()
            want = [p.detach().numpy() for p in params]
        else:
            want = [x.copy() for x in w]
            m = [np.zeros_like(x) for x in w]
            v = [np.zeros_like(x) for x in w]
            lr = prog.default_lr
            for g in gs:
                for k, gi in enumerate(g):
                    if direct == "signsgd":
                        want[k] = want[k] - lr * np.sign(gi)
                        continue
                    m[k] = 0.1 * gi + 0.9 * m[k]
                    v[k] = 0.001 * gi * gi + 0.999 * v[k]
                    want[k] = want[k] - lr * (m[k] / (np.sqrt(v[k]) + 1e-8) + 0.01 * want[k])
        assert max(float(np.max(np.abs(a - b))) for a, b in zip(got, want)) <= 1e-12


def test_optax_exports_match_optax_lion_and_the_reference(tmp_path):
    env = {**os.environ, "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(HERE / "optax_check.py")], env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    res = json.loads(lines[-1][len("RESULT "):])
    assert len(res["lion"]) == 3 and max(res["lion"]) <= 1e-12, res["lion"]
    bad = {k: v for k, v in res["ops"].items() if not v <= 1e-12}
    assert not bad and len(res["ops"]) == len(programs.op_programs()), bad


# The step's plan: the update folded into the weight update, calls in place on values that
# nothing reads later, slots' storage written in place; each program below is one of its cases.
PLAN_CASES = {
    "slot_in_place_twice": (["m"], [("m", "mul", "m", 0.9), ("m", "add", "m", "g"),
                                    ("update", "mul", "m", "lr")]),
    "slot_read_after": (["m"], [("c", "interp", "g", "m", 0.9), ("c", "sign", "c"),
                                ("m", "interp", "g", "m", 0.99), ("d", "mul", "w", 0.1),
                                ("c", "add", "c", "d"), ("update", "mul", "c", "lr")]),
    "slot_midway_is_update": (["m"], [("m", "mul", "m", 0.5), ("update", "mul", "m", "lr"),
                                      ("m", "add", "m", "g")]),
    "slots_swap": (["m", "v"], [("c", "add", "m", "g"), ("m", "mul", "v", 0.5),
                                ("v", "mul", "c", 0.25), ("d", "add", "m", "v"),
                                ("update", "mul", "d", "lr")]),
    "slot_end_value_elsewhere": (["m"], [("c", "mul", "m", 0.5), ("m", "sign", "g"),
                                         ("c", "add", "c", "m"), ("update", "mul", "c", "lr")]),
    "term_renamed_later": (["m"], [("c", "sign", "g"), ("c", "add", "c", "m"),
                                   ("update", "mul", "c", "lr"), ("c", "mul", "m", 0.5),
                                   ("m", "add", "c", "g")]),
    "scalar_renamed": ([], [("s", "add", "hb", 1.0), ("a", "mul", "g", "s"),
                            ("s", "mul", "s", 2.0), ("update", "mul", "a", "s")]),
    "scalar_shadowed": ([], [("update", "cube", "hb"), ("update", "power", "g", "update"),
                             ("update", "mul", "update", "lr")]),
    "global_then_elementwise": (["m"], [("n", "global_norm", "g"), ("n", "add", "n", 1.0),
                                        ("a", "div", "g", "n"), ("m", "interp", "a", "m", 0.5),
                                        ("update", "mul", "m", "lr")]),
    "norm_in_place": ([], [("n", "norm", "g"), ("n", "add", "n", 1.0), ("a", "mul", "g", "n"),
                           ("update", "mul", "a", "lr")]),
    "argument_twice": ([], [("c", "mul", "g", 2.0), ("d", "interp", "c", "c", 0.3),
                            ("e", "cube", "d"), ("update", "mul", "e", "lr")]),
    "weights_only": ([], [("update", "mul", "w", "lr")]),
    "scalar_update": ([], [("update", "mul", "lr", 0.5)]),
    "minus_w": ([], [("t", "sign", "g"), ("a", "mul", "t", "lr"), ("update", "sub", "a", "w")]),
    "divide_in_place": (["v"], [("g2", "square", "g"), ("v", "interp", "g2", "v", 0.9),
                                ("s", "sqrt", "v"), ("u", "div", "g", "s"),
                                ("d", "mul", "w", "hb"), ("u", "sub", "u", "d"),
                                ("update", "mul", "lr", "u")]),
}


@pytest.mark.parametrize("case", list(PLAN_CASES))
def test_step_plan_cases_match_the_interpreter(tmp_path, monkeypatch, case):
    monkeypatch.setenv("EXPORT_TMP", str(tmp_path))
    state, body = PLAN_CASES[case]
    prog = ir.parse({"format": ir.FORMAT, "name": f"plan_{case}", "state": state,
                     "hparams": {"hb": 0.3}, "default_lr": 0.01,
                     "body": [{"out": o, "op": op, "args": list(a)} for o, op, *a in body]})
    w, gs = programs.problem(steps=4)
    want = programs.reference(prog, w, gs)
    for foreach in (False, True):
        got = _run_torch(prog, w, gs, foreach)
        err = max(float(np.max(np.abs(a - b) / (1 + np.abs(b)))) for a, b in zip(got, want))
        assert err <= 1e-12, (foreach, err)


def test_the_cpu_default_is_one_loop_that_keeps_the_state_tensors(lion_mod, monkeypatch):
    net, x, y = mlp(torch.float32)
    opt = lion_mod.Lion(net.parameters(), lr=1e-3, weight_decay=0.1)
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
    slots = {id(p): s["m"] for p, s in opt.state.items()}
    data = {id(p): p.data_ptr() for p in net.parameters()}

    def refuse(*args, **kwargs):
        raise AssertionError("foreach on CPU with foreach=None")

    for name in ("_foreach_mul_", "_foreach_add_", "_foreach_mul", "_foreach_sign_"):
        monkeypatch.setattr(torch, name, refuse)
    for _ in range(3):
        opt.step()
    assert all(s["m"] is slots[id(p)] and s["m"].dtype == torch.float32 and
               s["m"].shape == p.shape for p, s in opt.state.items())
    assert all(p.data_ptr() == data[id(p)] for p in net.parameters())


def test_notes_flag_per_tensor_and_global_ops():
    prog = programs.op_programs()["norm"]
    assert any("per tensor" in n for n in export.notes(prog))
    assert "per tensor" in export.torch_source(prog).split('"""')[1]
    assert any("global" in n for n in export.notes(programs.op_programs()["dot"]))
    assert export.notes(ir.load("lion")) == []


# --- acceptance 2: a program file is data ------------------------------------------------------
def _lion_json(tmp_path) -> dict:
    out = tmp_path / "lion.json"
    assert cli("export", "--program", "lion", "--format", "json", "--out", str(out)) == 0
    return json.loads(out.read_text())


INJECT = "c=__import__('os').system('touch PWNED')#"


def _tampered(lion: dict) -> dict[str, str]:
    def renamed_var(d):
        for st in d["body"]:
            st["out"] = INJECT if st["out"] == "c" else st["out"]
            st["args"] = [INJECT if a == "c" else a for a in st["args"]]

    def renamed_hparam(d):
        d["hparams"][INJECT] = d["hparams"].pop("beta1")
        d["body"][0]["args"][2] = INJECT

    def op_import(d):
        d["body"][1]["op"] = "__import__"

    def string_hparam(d):
        d["hparams"]["beta1"] = "__import__('os').system('touch PWNED')"

    cases = {}
    for name, edit in [("variable", renamed_var), ("hparam", renamed_hparam),
                       ("op", op_import), ("string_hparam", string_hparam)]:
        d = copy.deepcopy(lion)
        edit(d)
        cases[name] = json.dumps(d)
    cases["infinity"] = json.dumps(lion).replace('"beta2": 0.99', '"beta2": Infinity')
    assert "Infinity" in cases["infinity"]
    return cases


@pytest.mark.parametrize("case", ["variable", "hparam", "op", "string_hparam", "infinity"])
def test_a_tampered_program_is_refused_and_nothing_is_written(tmp_path, case):
    cases = _tampered(_lion_json(tmp_path))
    src = tmp_path / "F.json"
    src.write_text(cases[case])
    proc = subprocess.run([sys.executable, "-m", "evoflow.cli", "export", "--program", str(src),
                           "--format", "torch", "--out", "x.py"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ,
                                                                "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "x.py").exists() and not (tmp_path / "PWNED").exists()
    assert not list(tmp_path.glob("*.tmp*"))


def test_the_unmodified_json_exports(tmp_path):
    lion = _lion_json(tmp_path)
    src = tmp_path / "F.json"
    src.write_text(json.dumps(lion))
    out = tmp_path / "x.py"
    assert cli("export", "--program", str(src), "--format", "torch", "--out", str(out)) == 0
    assert "class Lion(torch.optim.Optimizer)" in out.read_text()
    assert ir.loads(src.read_text()) == ir.load("lion")
