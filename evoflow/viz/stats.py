"""Across-seed summaries: curves of several runs on one evaluation grid."""

from __future__ import annotations

import numpy as np

MAX_POINTS = 200


def common_grid(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate each run's (x, y) onto one x grid: the x values all runs cover (at most
    MAX_POINTS, evenly thinned); outside a run's own range its value is NaN, not extrapolated."""
    lo = max(xs[0] for xs, _ in pairs)
    hi = min(xs[-1] for xs, _ in pairs)
    allx = np.unique(np.concatenate([xs for xs, _ in pairs]))
    grid = allx[(allx >= lo) & (allx <= hi)] if lo <= hi else allx
    if grid.size > MAX_POINTS:
        grid = np.linspace(grid[0], grid[-1], MAX_POINTS)
    ys = np.full((len(pairs), grid.size), np.nan)
    for k, (xs, y) in enumerate(pairs):
        inside = (grid >= xs[0]) & (grid <= xs[-1])
        ys[k, inside] = np.interp(grid[inside], xs, y)
    return grid, ys


def median_iqr(ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and 25-75% over runs (axis 0), ignoring NaN; all-NaN columns stay NaN."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        q25, med, q75 = np.nanpercentile(ys, [25, 50, 75], axis=0)
    return med, q25, q75
