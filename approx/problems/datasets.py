"""The classification task's built-in 2-D datasets, drawn from an rng passed in.

Each dataset is a recipe ``draw(n, rng, **params) -> (X, y)`` with declared parameters
(:class:`approx.core.options.Option`), so a config's ``[[datasets]]`` entries are checked
before anything runs: :meth:`Dataset.resolve` fills defaults and refuses unknown names
(``classes`` for ``xor``, which has exactly two). :func:`draw` makes a :class:`Sample`:
``n_samples`` training points and ``n_test`` held-out points, drawn one after the other
from the same distribution and the same ``rng``, so one seed fixes both.

Labels are balanced: sample ``j`` of a part has class ``j mod k`` before the part is
shuffled, so every class has ⌊n/k⌋ or ⌈n/k⌉ points and a classifier that predicts one
class everywhere scores 1/k on the test set (exactly, when k divides ``n_test``).

Every dataset lies in roughly ``[-1, 1]²`` at its defaults, so one feature bandwidth
suits them all.

=========  ====================================================================  =======
name       distribution of class ``c``                                           classes
=========  ====================================================================  =======
blobs      Gaussian, std ``noise``, centred on a circle, neighbours 1 apart      k ≥ 2
xor        Gaussians at (±½, ±½), std ``noise``; class 1: the centres x₁x₂ < 0    2
rings      radius (c + 1)/k, angle uniform, plus Gaussian noise                  k ≥ 2
spirals    arm c: radius t, angle 2π(turns·t + c/k), t ~ U[0.15, 1], plus noise  k ≥ 2
=========  ====================================================================  =======

``blobs`` is linearly separable with high probability at the default noise (each point
would have to stray 5 standard deviations to cross into a neighbour's half-plane), and
its k classes meet the linear classifier's k convex regions (lecture 1.1). ``xor`` and
``rings`` are symmetric under maps that keep the labels (x → −x for ``xor``, rotations
for ``rings``), so the softmax loss of a linear classifier is least, over the whole
distribution, for θ = 0: what a fitted one gains over chance comes from the sample's
own asymmetries (lecture 1.2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core import validate
from approx.core.options import Option, Schema

__all__ = ["DATASETS", "Dataset", "Sample", "draw", "get"]

Array = NDArray[np.float64]
Labels = NDArray[np.int64]


@dataclass(frozen=True)
class Sample:
    """Training and held-out samples of one dataset.

    Attributes
    ----------
    name : str
        The dataset's name.
    X_train : ndarray of shape (n_samples, 2)
    y_train : ndarray of int64, shape (n_samples,)
        Class labels in ``0 … classes − 1``.
    X_test : ndarray of shape (n_test, 2)
    y_test : ndarray of int64, shape (n_test,)
    classes : int
        Number of classes k.
    """

    name: str
    X_train: Array
    y_train: Labels
    X_test: Array
    y_test: Labels
    classes: int

    def bounds(self, margin: float = 0.1) -> tuple[float, float, float, float]:
        """``(x1_min, x1_max, x2_min, x2_max)`` of all samples, widened by ``margin``.

        The margin is a fraction of each side's extent (for decision-region grids).
        """
        X = np.concatenate([self.X_train, self.X_test])
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = margin * (hi - lo)
        return (
            float(lo[0] - pad[0]),
            float(hi[0] + pad[0]),
            float(lo[1] - pad[1]),
            float(hi[1] + pad[1]),
        )


@dataclass(frozen=True)
class Dataset:
    """A built-in dataset: its sampler and what it accepts.

    Attributes
    ----------
    name : str
    sampler : callable
        ``sampler(y, k, rng, **params) -> X`` of shape (n, 2): points of the classes
        ``y`` of shape (n,) (balanced labels drawn by :func:`draw`) among ``k``.
    params : tuple of Option
        Declared parameters beyond the common ``n_samples`` and ``n_test``.
    description : str
    fixed_classes : int or None
        The number of classes of a dataset that has no ``classes`` parameter.
    declared : Schema
        Every parameter the dataset accepts: the common ones, then its own.
    """

    name: str
    sampler: Callable[..., Array]
    params: tuple[Option, ...]
    description: str
    fixed_classes: int | None = None
    declared: Schema = field(init=False, repr=False)

    def __post_init__(self) -> None:
        declared = Schema(COMMON_PARAMS + self.params, f"dataset {self.name!r}", "parameter")
        object.__setattr__(self, "declared", declared)

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check every given value once and fill defaults; unknown names raise ``ValueError``."""
        return self.declared.resolve(params)

    def n_classes(self, params: dict[str, Any]) -> int:
        """The number of classes k under resolved ``params``."""
        return self.fixed_classes if self.fixed_classes is not None else params["classes"]


def _balanced_labels(n: int, k: int, rng: np.random.Generator) -> Labels:
    """``n`` labels with every class ⌊n/k⌋ or ⌈n/k⌉ times, in random order."""
    return rng.permutation(np.arange(n, dtype=np.int64) % k)


def _blobs(y: Labels, k: int, rng: np.random.Generator, *, noise: float) -> Array:
    # centres on a circle of radius 1 / (2 sin(π/k)): neighbouring centres are 1 apart
    # whatever k (for k = 2, the radius is 1/2)
    angle = 2.0 * np.pi * np.arange(k) / k
    centres = np.stack([np.cos(angle), np.sin(angle)], axis=1) / (2.0 * np.sin(np.pi / k))
    return centres[y] + noise * rng.standard_normal((y.size, 2))


def _xor(y: Labels, k: int, rng: np.random.Generator, *, noise: float) -> Array:
    # class 0 in the quadrants where x₁x₂ > 0, class 1 where x₁x₂ < 0; the quadrant within
    # the class is a fair coin
    s1 = rng.choice([-0.5, 0.5], size=y.size)
    s2 = np.where(y == 0, s1, -s1)
    return np.stack([s1, s2], axis=1) + noise * rng.standard_normal((y.size, 2))


def _rings(y: Labels, k: int, rng: np.random.Generator, *, noise: float) -> Array:
    radius = (y + 1.0) / k
    angle = rng.uniform(0.0, 2.0 * np.pi, y.size)
    ring = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return ring + noise * rng.standard_normal((y.size, 2))


def _spirals(y: Labels, k: int, rng: np.random.Generator, *, noise: float, turns: float) -> Array:
    # arms are 1/(turns·k) apart along any ray: radius grows by 1 every `turns` revolutions;
    # they start at radius SPIRAL_START, where neighbours are 2·SPIRAL_START·sin(π/k) apart,
    # not at 0, where every arm meets every other and no classifier could tell them apart
    t = rng.uniform(SPIRAL_START, 1.0, y.size)
    angle = 2.0 * np.pi * (turns * t + y / k)
    arm = t[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return arm + noise * rng.standard_normal((y.size, 2))


#: radius at which the spiral arms start
SPIRAL_START = 0.15

#: parameters every dataset has
COMMON_PARAMS: tuple[Option, ...] = (
    Option("n_samples", int, 200, "training samples", minimum=2),
    Option("n_test", int, 1000, "held-out test samples", minimum=1),
)
NOISE = Option("noise", float, 0.1, "standard deviation of the Gaussian noise", minimum=0.0)
CLASSES = Option("classes", int, 2, "number of classes k", minimum=2)


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            "blobs",
            _blobs,
            (CLASSES.replace(default=3), NOISE),
            "k Gaussian classes centred on a circle, linearly separable (lecture 1.1)",
        ),
        Dataset(
            "xor",
            _xor,
            (NOISE.replace(default=0.15),),
            "four Gaussian clusters at (±½, ±½), opposite corners alike",
            fixed_classes=2,
        ),
        Dataset(
            "rings",
            _rings,
            (CLASSES, NOISE.replace(default=0.05)),
            "k concentric rings of radii 1/k, 2/k, …, 1",
        ),
        Dataset(
            "spirals",
            _spirals,
            (
                CLASSES,
                NOISE.replace(default=0.04),
                Option("turns", float, 1.5, "revolutions of each arm", minimum=0.25),
            ),
            "k interleaved spiral arms from radius 0.15 to 1",
        ),
    ]
}


def get(name: str) -> Dataset:
    """Return the dataset ``name``; unknown names get an error listing the known ones."""
    return validate.lookup(DATASETS, name, "dataset")


def draw(name: str, rng: np.random.Generator, **params: Any) -> Sample:
    """Draw training and held-out samples of the dataset ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    rng : numpy.random.Generator
        The only source of randomness: the same generator state gives the same sample.
    **params
        The dataset's parameters (see :meth:`Dataset.resolve`); missing ones take their
        defaults.

    Returns
    -------
    Sample
        ``n_samples`` training points, then ``n_test`` held-out points, both drawn from
        ``rng`` in that order.
    """
    dataset = get(name)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    resolved = dataset.resolve(params)
    n_train, n_test = resolved.pop("n_samples"), resolved.pop("n_test")
    k = dataset.n_classes(resolved)
    resolved.pop("classes", None)
    parts = []
    for n in (n_train, n_test):
        y = _balanced_labels(n, k, rng)
        parts.append((dataset.sampler(y, k, rng, **resolved), y))
    (X_train, y_train), (X_test, y_test) = parts
    return Sample(name, X_train, y_train, X_test, y_test, k)
