"""Archive geometry shared by the PNG figures and the HTML page.

Every archive, whatever its kind, is drawn as one *index image*: an (H, W) array of cell indices
(-1 where no cell is drawn) over known x/y coordinates. The viewer colours pixel p with
fitness[index[p]], so the page ships one small integer image plus C fitness values instead of
one shape per cell, and hovering a pixel names its cell exactly.

- grid, D = 2: one pixel per cell, x/y are the bin centres in descriptor units.
- grid, D > 2: QDax's nested grid: dims[0]/dims[1] vary inside each block, the next two dims
  choose the block (columns, rows); beyond 4 dims a pixel shows the best cell along the rest.
- cvt: a `resolution`² raster of the descriptor box, each pixel the nearest centroid (a
  Voronoi diagram drawn as an image); for D > 2 the centroids are projected on `dims` first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class IndexImage:
    index: np.ndarray  # (H, W) int32, -1 = nothing drawn; row 0 at the bottom
    x: np.ndarray  # (W,) pixel centres
    y: np.ndarray  # (H,)
    kind: str  # "grid" | "nested" | "cvt"
    x_edges: np.ndarray | None = None  # (W + 1,) for grids
    y_edges: np.ndarray | None = None
    blocks: dict = field(default_factory=dict)  # nested: block sizes and outer dims


def kind(archive: dict) -> str:
    k = archive.get("kind")
    if k is not None:
        return str(np.asarray(k).item())
    return "grid" if np.asarray(archive.get("grid_shape", [])).size else "cvt"


def grid_shape(archive: dict) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(archive.get("grid_shape", [])).reshape(-1))


def box(archive: dict) -> tuple[np.ndarray, np.ndarray]:
    """Descriptor box (low, high); from the centroids when the archive does not record it."""
    cen = np.asarray(archive["centroid"], np.float64)
    low = np.asarray(archive.get("descriptor_low", cen.min(axis=0)), np.float64).reshape(-1)
    high = np.asarray(archive.get("descriptor_high", cen.max(axis=0)), np.float64).reshape(-1)
    high = np.where(high > low, high, low + 1.0)
    return low, high


def fitness(archive: dict) -> np.ndarray:
    """Float64 fitness with empty cells (-inf) and non-finite values as NaN."""
    f = np.asarray(archive["fitness"], np.float64).copy()
    f[~np.isfinite(f)] = np.nan
    return f


def color_range(values: np.ndarray, vmin=None, vmax=None) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if vmin is None and finite.size else (0.0 if vmin is None else vmin)
    hi = float(finite.max()) if vmax is None and finite.size else (1.0 if vmax is None else vmax)
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def check_dims(archive: dict, dims) -> tuple[int, int]:
    d = np.asarray(archive["descriptor"]).shape[1]
    dims = tuple(int(v) for v in dims)
    if len(dims) != 2 or dims[0] == dims[1] or min(dims) < 0 or max(dims) >= max(d, 2):
        raise ValueError(f"dims={dims}: need two different descriptor dimensions in 0..{d - 1}")
    return dims


def index_image(archive: dict, dims=(0, 1), resolution: int = 300) -> IndexImage:
    dims = check_dims(archive, dims)
    if kind(archive) == "grid" and grid_shape(archive):
        shape = grid_shape(archive)
        if len(shape) == 2 and dims == (0, 1):
            return _grid_2d(archive, shape)
        return _nested(archive, shape, dims)
    return _cvt(archive, dims, resolution)


def _grid_2d(archive: dict, shape) -> IndexImage:
    low, high = box(archive)
    n0, n1 = shape
    ids = np.arange(n0 * n1, dtype=np.int32).reshape(n0, n1).T  # (rows = dim 1, cols = dim 0)
    xe, ye = np.linspace(low[0], high[0], n0 + 1), np.linspace(low[1], high[1], n1 + 1)
    return IndexImage(ids, (xe[:-1] + xe[1:]) / 2, (ye[:-1] + ye[1:]) / 2, "grid", xe, ye)


def _nested(archive: dict, shape, dims) -> IndexImage:
    d = len(shape)
    fit = np.nan_to_num(fitness(archive), nan=-np.inf)
    outer = [k for k in range(d) if k not in dims]
    o0, o1 = (outer + [None, None])[:2]
    rest = outer[2:]
    ids = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    order = [o1, dims[1], o0, dims[0]]
    order = [k for k in order if k is not None] + rest
    arr = ids.transpose(order)
    n = {k: shape[k] for k in range(d)}
    ni0, ni1 = n[dims[0]], n[dims[1]]
    no0 = n[o0] if o0 is not None else 1
    no1 = n[o1] if o1 is not None else 1
    arr = arr.reshape(no1 * ni1, no0 * ni0, -1)
    if arr.shape[2] > 1:  # more than 4 dims: show the best cell along the remaining ones
        best = np.argmax(fit[arr], axis=2)
        arr = np.take_along_axis(arr, best[..., None], axis=2)
    index = arr[..., 0].astype(np.int32)
    h, w = index.shape
    xe, ye = np.arange(w + 1, dtype=np.float64), np.arange(h + 1, dtype=np.float64)
    blocks = {"inner": (ni0, ni1), "outer": (no0, no1), "outer_dims": (o0, o1), "dims": dims}
    return IndexImage(index, xe[:-1] + 0.5, ye[:-1] + 0.5, "nested", xe, ye, blocks)


def _cvt(archive: dict, dims, resolution: int) -> IndexImage:
    from scipy.spatial import cKDTree

    low, high = box(archive)
    cen = np.asarray(archive["centroid"], np.float64)[:, dims]
    keep = np.arange(len(cen))
    if np.asarray(archive["descriptor"]).shape[1] > 2:
        # A projection of a higher-dimensional CVT: only filled cells compete for a pixel.
        keep = np.flatnonzero(np.isfinite(fitness(archive)))
    lo, hi = low[list(dims)], high[list(dims)]
    xe = np.linspace(lo[0], hi[0], resolution + 1)
    ye = np.linspace(lo[1], hi[1], resolution + 1)
    x, y = (xe[:-1] + xe[1:]) / 2, (ye[:-1] + ye[1:]) / 2
    if keep.size == 0:
        index = np.full((resolution, resolution), -1, np.int32)
    else:
        gx, gy = np.meshgrid(x, y)
        _, nearest = cKDTree(cen[keep]).query(np.column_stack([gx.ravel(), gy.ravel()]))
        index = keep[nearest].reshape(resolution, resolution).astype(np.int32)
    return IndexImage(index, x, y, "cvt", xe, ye)


def voronoi_polygons(centroids: np.ndarray, low, high) -> list[np.ndarray]:
    """Each centroid's Voronoi cell clipped to the box: mirroring the points across the four
    sides makes every inner cell bounded and exactly clipped (no polygon library needed)."""
    from scipy.spatial import Voronoi

    p = np.asarray(centroids, np.float64)
    (x0, y0), (x1, y1) = low, high
    mirrors = [p * [1, 1]]
    mirrors += [np.column_stack([2 * x0 - p[:, 0], p[:, 1]]),
                np.column_stack([2 * x1 - p[:, 0], p[:, 1]]),
                np.column_stack([p[:, 0], 2 * y0 - p[:, 1]]),
                np.column_stack([p[:, 0], 2 * y1 - p[:, 1]])]
    vor = Voronoi(np.concatenate(mirrors), qhull_options="Qbb Qc Qz")
    polys = []
    for i in range(len(p)):
        region = vor.regions[vor.point_region[i]]
        verts = vor.vertices[[v for v in region if v >= 0]]
        polys.append(np.clip(verts, low, high))
    return polys
