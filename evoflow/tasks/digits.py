"""`digits`: a small classifier on scikit-learn's 8x8 digits, trained by a population method.

One fixed stratified split, 1,437 train / 360 test (`random_state=0`, independent of `--seed`),
pixels scaled to [0, 1]. A particle is the flat parameter vector of an MLP (`hidden` layers,
tanh) with a softmax output; its fitness is minus the mean cross-entropy on one data mini-batch of
`data_batch` samples, drawn per run and iteration (all particles of a run see the same batch).
The data ship with scikit-learn: nothing is downloaded.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.config import Param
from evoflow.nets import Layout
from evoflow.tasks.base import Task

N_TEST = 360


@lru_cache(maxsize=1)
def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): 1,437/360, stratified, fixed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=N_TEST, stratify=y, random_state=0)
    return x_tr, y_tr.astype(np.int32), x_te, y_te.astype(np.int32)


def network(hidden: list[int]) -> Layout:
    """64 pixels -> tanh hidden layers -> 10 logits."""
    return Layout((64, *hidden, 10), "tanh", "none")


def n_params(hidden: list[int]) -> int:
    return network(hidden).n_params


def logits(flat: jax.Array, x: jax.Array, hidden: list[int]) -> jax.Array:
    """MLP forward pass for one flat parameter vector; x (n, 64) -> (n, 10)."""
    return network(hidden).apply(flat, x)


def cross_entropy(flat, x, y, hidden) -> jax.Array:
    z = logits(flat, x, hidden)
    return jnp.mean(jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, y[:, None], 1)[:, 0])


class DigitsTask(Task):
    name = "digits"
    sense = "min"
    kinds = ("supervised",)
    progress_keys = ("test_accuracy",)
    SCHEMA = {
        "hidden": Param([], "ints", "hidden layer widths of the MLP ([] = softmax regression)",
                        check="positive"),
        "data_batch": Param(60, "int", "training samples per evaluation mini-batch",
                            check="positive"),
        "init_scale": Param(1.0, "float", "half-width of the uniform init box", check="positive"),
    }

    def __init__(self, cfg):
        super().__init__(cfg)
        self.hidden = list(cfg["hidden"])
        x_tr, y_tr, x_te, y_te = digits_split()
        if cfg["data_batch"] > len(x_tr):
            from evoflow.errors import UsageError
            raise UsageError(f"--set data_batch={cfg['data_batch']}: at most {len(x_tr)} "
                             f"(the training set)")
        self.x_tr, self.y_tr = jnp.asarray(x_tr), jnp.asarray(y_tr)
        self.x_te, self.y_te = jnp.asarray(x_te), jnp.asarray(y_te)

    @property
    def dim(self) -> int:
        return n_params(self.hidden)

    def init_box(self):
        s = self.cfg["init_scale"]
        return np.full(self.dim, -s), np.full(self.dim, s)

    def evaluate(self, run_data, params, key):
        idx = jax.random.choice(key, self.x_tr.shape[0], (self.cfg["data_batch"],),
                                replace=False)
        x, y = self.x_tr[idx], self.y_tr[idx]
        return -jax.vmap(lambda p: cross_entropy(p, x, y, self.hidden))(params)

    def _correct(self, points, x, y, valid):
        pred = jax.vmap(lambda p: jnp.argmax(logits(p, x, self.hidden), -1))(points)
        return jnp.sum(jnp.where(valid[:, None], pred == y[None, :], False))

    def metrics(self, run_data, points, valid):
        n = jnp.sum(valid)
        # Integer counts: exact under any sharding of the runs axis.
        return {"test_accuracy": self._correct(points, self.x_te, self.y_te, valid)
                / (n * self.x_te.shape[0]),
                "train_accuracy": self._correct(points, self.x_tr, self.y_tr, valid)
                / (n * self.x_tr.shape[0])}

    def summary(self, metrics):
        return {"test_accuracy": metrics["test_accuracy"],
                "train_accuracy": metrics["train_accuracy"]}
