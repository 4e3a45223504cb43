"""What a run of a method costs: its parameter count (for budgets) and an upper estimate
of its memory (for the sweep's memory limit), as functions ``(width, params) -> int``."""

from __future__ import annotations

from typing import Any

from approx.certify.chebyshev import COMPILED_FROM
from approx.train import options

__all__ = [
    "CHEBYSHEV_PER_UNIT",
    "PER_UNIT",
    "RUN_BASE",
    "chebyshev_memory",
    "coefficients",
    "features_memory",
    "linear_memory",
    "one_hidden_layer",
    "optimum_memory",
    "sawtooth_size",
    "trained_memory",
    "trained_size",
]

#: bytes any run needs whatever its size: the worker process (numpy, scipy loaded) and
#: the grids of up to 2²² points on which the errors of smooth models are measured
RUN_BASE = 128 * 2**20
#: bytes per unit of width of the O(d) methods (knots, coefficients, breakpoints), measured
#: with ``ru_maxrss`` at d = 1024 and 4096 (about 1.3 KiB per unit), with a margin
PER_UNIT = 2048


def linear_memory(width: int, params: dict[str, Any]) -> int:
    return RUN_BASE + PER_UNIT * width


#: bytes per coefficient of a Chebyshev run: its certification keeps the derivative
#: series as Arb balls and Clenshaw's arrays over the cells; measured with ``ru_maxrss``
#: in a fresh process at d = 16384: 144 MiB above the baseline after imports (9 KiB a
#: coefficient), with a margin
CHEBYSHEV_PER_UNIT = 10 * 1024
#: numba's import and the compilation of a certification kernel (Clenshaw's recurrence from
#: :data:`~approx.certify.chebyshev.COMPILED_FROM` terms on, cos and sin of many cells):
#: measured with ``VmHWM`` in a fresh process, 110 MiB (from 109 MiB at d = 256 to 209 MiB
#: at d = 1024), with a margin; counted whether or not numba is installed
COMPILED = 128 * 2**20


def chebyshev_memory(width: int, params: dict[str, Any]) -> int:
    compiled = COMPILED if width >= COMPILED_FROM else 0
    return RUN_BASE + CHEBYSHEV_PER_UNIT * width + compiled


#: bytes of cos features' certificate per cell of its grid (:func:`~approx.certify.features.
#: feature_cells`): coefficients and radii of up to 48 orders, and the search's copies of
#: them for orders 0 and 2 … 6, 14 arrays of 8-byte floats; the grid has at most 2¹⁵
#: cells and, for random Fourier features (largest frequency about 4.5 σ), about
#: ``min(d, n_samples)`` to twice that
GRID_PER_CELL = 14 * 8 * 48


def features_memory(width: int, params: dict[str, Any]) -> int:
    # the fit. ReLU features: three n_samples × (d + 1) arrays' worth (while the design is
    # built: the pre-activations, the features, the design) and two (d + 1)² matrices (the
    # Gram matrix and its Cholesky factor); measured with ``VmHWM`` at d = 4096 on 8192
    # samples: 698 MiB above the process's size before the fit, against 1024 here. Cos
    # features (the design written in place, :func:`~approx.models.least_squares.
    # cos_design`): two n_samples × (d + 1) arrays' worth (the design and, for the
    # deflated fit, the subspace's images and their QR factors, at most (d + 1)/2 columns
    # each, or the plain SVD's copy of the design) and three (d + 1)² matrices' worth (the
    # Gram matrix, factored in place, its blocks' temporaries, the single-precision copy of
    # the factor); measured at d = 2048 and 4096 on 8192 samples: 319 and 645 MiB,
    # against 352 and 896 here.
    # Then the compiled cos and sin of the certificate's cells, and its grid of Taylor
    # models
    n, m = params["n_samples"], width + 1
    grid = GRID_PER_CELL * min(2 * min(width, n), 2**15)
    if params.get("features", "fourier") == "relu":
        design = 8 * (3 * n * m + 2 * m * m)
    else:
        design = 8 * (2 * n * m + 3 * m * m)
    return RUN_BASE + PER_UNIT * width + design + COMPILED + grid


def trained_memory(width: int, params: dict[str, Any]) -> int:
    # The engine's fused 1→d→1 pass works in cache-sized blocks, so first-order steps and
    # the banded knot-form polish need O(n + d): about 30 vectors of the n training points
    # (measured with ru_maxrss at d = 256 and 1024 for the default recipe: ≈ 230 bytes a
    # point beyond the worker's base), plus the validation grid. The dense
    # Levenberg–Marquardt paths (``lm``; the polish of non-ReLU nets) add the n × P
    # Jacobian, its product and the P × P normal equations and their factor, P = 3d + 1
    # (``lm`` with n < P: an n × n system and a scaled copy of the Jacobian).
    optimizer = params.get("optimizer") or "adam+lm"
    n = params.get("n_train") or options.default_n_train(width, optimizer)
    n_val = params.get("n_val") or options.default_n_val(n)
    size = 8 * (48 * n + 4 * n_val) + PER_UNIT * width
    depth = params.get("depth") or 1
    size += 8 * 10 * n * width * (depth - 1)  # a deep net's forward caches, per layer
    dense = optimizer == "lm" or (
        optimizer == "adam+lm" and (params.get("activation") != "relu" or depth > 1)
    )
    if dense:
        p = trained_size(width, params)
        size += 8 * (2 * n * p + 3 * p * p)
    return 2 * RUN_BASE + size


#: bytes per sample of an ``optimal-pwl`` run (x, values, sags, bands, the kernel's two
#: hull chains and the enclosures), with a margin; the samples are 64 per piece, between
#: 2^14 and 2^21 (:mod:`approx.certify.optimum`)
OPTIMUM_PER_SAMPLE = 160


def optimum_memory(width: int, params: dict[str, Any]) -> int:
    samples = min(max(64 * (width + 2), 1 << 14), 1 << 21)
    return RUN_BASE + OPTIMUM_PER_SAMPLE * samples + PER_UNIT * width


def one_hidden_layer(width: int, params: dict[str, Any]) -> int:
    return 3 * width + 1  # a 1 → d → 1 net with biases


def sawtooth_size(width: int, params: dict[str, Any]) -> int:
    # [1, 4, …, 4, 1] with m = width hidden layers: 8 + 20 (m − 1) + 5
    return 20 * width - 7


def trained_size(width: int, params: dict[str, Any]) -> int:
    # 1 → d, then depth − 1 layers d → d, then d → 1, all with biases
    return 3 * width + 1 + (params.get("depth", 1) - 1) * (width * width + width)


def coefficients(width: int, params: dict[str, Any]) -> int:
    return width
