"""Errors evoflow raises for the user's input or a run's state; the CLI prints them in one line."""


class EvoflowError(Exception):
    """Base class of every error the CLI reports without a traceback."""

    exit_code = 2


class UsageError(EvoflowError):
    """Bad input: a value, name or path the user gave. Raised before anything is created."""


class RunStateError(EvoflowError):
    """A run directory or checkpoint that cannot be used (missing, corrupt, foreign)."""


class NonFiniteError(EvoflowError):
    """Every evaluation of an iteration was non-finite: the run stops after its last good checkpoint."""
