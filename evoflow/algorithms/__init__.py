"""Algorithms, one package per family; each declares itself in its `__init__` (see `registry`)."""

from __future__ import annotations

from evoflow.algorithms.registry import algorithm, algorithms, families, family_of  # noqa: F401


def get_algorithm(name: str):
    """The strategy class of a registered algorithm (imports its module)."""
    return algorithm(name).load()


def __getattr__(name: str):
    if name == "ALGORITHMS":  # name -> Algorithm declaration, every registered family
        return algorithms()
    raise AttributeError(name)
