"""Fuzzing the certificate: ``value ≤ sup |f - f̂| ≤ upper`` for drawn targets, domains
and models, against the independent reference of :mod:`reference` (mpmath at 50 digits,
exact rationals for ReLU nets against piecewise-linear targets).

Drawn: expression trees from the parser's grammar (every function, powers up to 200,
products of an expression with itself, saturations such as ``tanh(K u)``, poles just
outside the domain, tiny and huge constants), domains from one float wide to 1e300 and
far from 0, and every model kind: the ±ReLU construction (uniform and adaptive knots),
cubic splines, Chebyshev series, cos and ReLU random features, and ``MLP.from_params``
nets of depth 1–3 with every activation of the registry (ReLU nets of depth 1–5, with
their exact or their float pieces), weights "trained-like" or arbitrary floats.

The default profile runs a few derandomized examples per test (the plain ``pytest``
stays under a minute); ``pytest -m fuzz --hypothesis-profile long`` runs thousands.
With ``FUZZ_SURVEY=path`` set, failures are appended there as JSON lines instead of
raised, so one long run surveys every kind of failure (and the refusals).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import signal
import time
from collections import Counter
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from approx.analysis.errors import max_error_at
from approx.certify import taylor
from approx.models import baselines, construct
from approx.nn import MLP, piecewise
from approx.nn.activations import REGISTRY
from approx.problems.expr import FUNCTIONS
from approx.problems.targets import from_expr

from . import reference as ref

pytestmark = pytest.mark.fuzz

LONG = settings.get_current_profile_name() == "long"
#: operations the reference may spend on its mpmath grid, per example
BUDGET = 100_000 if LONG else 20_000
TOP = 20 if LONG else 6
ITERS = 40 if LONG else 30
#: largest width of drawn models (d of the constructions, hidden width of random nets)
MAX_D = 64
MAX_WIDTH = 16 if LONG else 8
#: the certificate's work cap: the package's default under ``long``, a sixteenth by
#: default (soundness must hold at every cap; the default runs stay fast)
MAX_WORK = taylor.MAX_WORK if LONG else taylor.MAX_WORK // 16
#: CPU seconds an example may take (the certificate, then the reference) before it is
#: recorded as too slow and skipped
TIME_LIMIT = 120 if LONG else 20
COUNTS: Counter[str] = Counter()
SURVEY = os.environ.get("FUZZ_SURVEY")


def fuzz_settings(examples: int) -> settings:
    """The loaded profile under ``long``; else ``examples`` derandomized examples."""
    if LONG:
        return settings(settings.default)
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        # no shrinking: a failure prints the drawn example as it is, quickly
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request: pytest.FixtureRequest) -> Any:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and COUNTS:
        reporter.write_line(f"fuzz counts: {dict(sorted(COUNTS.items()))}")
    if SURVEY:
        _log({"kind": "counts", **COUNTS})


def _log(record: dict[str, Any]) -> None:
    with open(SURVEY, "a") as out:  # type: ignore[arg-type]
        out.write(json.dumps(record, default=str) + "\n")


def _note(text: str) -> None:
    """hypothesis' ``note`` inside a property, ``print`` (shown on failure) outside."""
    if currently_in_test_context():
        note(text)
    else:
        print(text)


def _tally(key: str) -> None:
    """Count an event; in survey mode write the counts out every 50 certificates."""
    COUNTS[key] += 1
    if SURVEY and key == "certified" and COUNTS[key] % 50 == 0:
        _log({"kind": "counts", **COUNTS})


def _fail(kind: str, message: str, **info: Any) -> None:
    """Raise, or in survey mode record the failure and go on."""
    COUNTS[f"FAIL {kind}"] += 1
    if SURVEY:
        _log({"kind": kind, "message": message, **info})
        return
    raise AssertionError(f"{kind}: {message}")


class _TooSlow(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`_TooSlow` after ``seconds`` of this process's CPU time (SIGPROF, so
    a loaded machine does not change which examples count as too slow)."""

    def alarm(signum: int, frame: Any) -> None:
        raise _TooSlow

    previous = signal.signal(signal.SIGPROF, alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def certify(text: str, domain: tuple[float, float], target: Any, model: Any) -> Any:
    """``max_error_at`` under the time limit; None (after recording) when it crashes or
    takes too long."""
    start = time.process_time()
    try:
        with time_limit(TIME_LIMIT):
            found = max_error_at(target, model, max_work=MAX_WORK)
    except _TooSlow:
        COUNTS["certificate too slow"] += 1
        if SURVEY:
            _log({"kind": "slow", "expr": text, "domain": domain, "model": _describe(model)})
        assume(False)
    except Exception as err:  # the certificate must not crash on an accepted input
        _fail("crash", f"{type(err).__name__}: {err}", expr=text, domain=domain,
              model=_describe(model))
        return None
    elapsed = time.process_time() - start
    if SURVEY and elapsed > 10:
        _log({"kind": "slow-ok", "seconds": elapsed, "expr": text, "domain": domain,
              "model": repr(model)})
    return found


def reference(text: str, model: Any, domain: tuple[float, float], x: float) -> Any:
    """The reference's best point (see :func:`reference.reference_sup`), or ``reject``
    when it cannot evaluate the target or takes too long."""
    try:
        with time_limit(TIME_LIMIT):
            return ref.reference_sup(text, model, domain, budget=BUDGET, top=TOP,
                                     iters=ITERS, extra=(x,))
    except (_TooSlow, ref.Unevaluable) as err:
        COUNTS[f"reference: {type(err).__name__}"] += 1
        assume(False)


# --- domains -----------------------------------------------------------------------------

CENTRES = [0.0, 1.0, 1.5, -2.0, 1e-300, 3e-320, 1e3, 1e15, -1e15, 1e100, -1e100, 1e300]
WIDTHS = [1e-300, 1e-12, 1e-3, 0.25, 1.0, 2.0, 10.0, 1e5, 1e15, 1e100, 1e300, 1.7e308]


@st.composite
def domains(draw: st.DrawFn) -> tuple[float, float]:
    """Ordinary intervals, intervals a few floats wide, huge ones, ones far from 0."""
    kind = draw(st.sampled_from(["unit", "ulps", "width", "width", "ulps"]))
    if kind == "unit":
        return draw(st.sampled_from([(-1.0, 1.0), (0.0, 1.0), (-3.0, 2.0), (1e-4, 1.0)]))
    centre = draw(st.sampled_from(CENTRES) | st.floats(-1e6, 1e6, allow_subnormal=False))
    if kind == "ulps":
        a = b = centre
        for _ in range(draw(st.integers(1, 8))):
            b = math.nextafter(b, math.inf)
        if draw(st.booleans()):
            a, b = -b, -a
    else:
        width = draw(st.sampled_from(WIDTHS))
        with np.errstate(all="ignore"):
            a, b = float(np.float64(centre) - width / 2), float(np.float64(centre) + width / 2)
    assume(math.isfinite(a) and math.isfinite(b) and a < b)
    return a, b


# --- expressions -------------------------------------------------------------------------

SPECIAL = [0.0, 1.0, 2.0, 0.5, 3.0, 1e-300, 5e-324, 1e-12, 1e12, 1e5, 1e6, 1e100, 1e300, 1.7e308]
EXPONENTS = ["2", "3", "4", "-1", "-2", "0.5", "1.5", "(1/3)", "65", "66", "200"]
SATURATIONS = ["tanh({k}*{u})", "erf({k}*{u})", "1/(1 + exp(-{k}*{u}))", "arctan({k}*{u})"]
GAINS = ["1", "10", "1000.0", "1e5", "3e5", "1e6", "1e12"]


def _num(v: float) -> str:
    text = repr(float(v))
    return f"({text})" if text.startswith("-") else text


def constants() -> st.SearchStrategy[str]:
    ordinary = st.floats(-10, 10, allow_nan=False).map(lambda v: round(v, 3))
    special = st.sampled_from(SPECIAL)
    return (ordinary | special | special.map(lambda v: -v)).map(_num) | st.sampled_from(
        ["pi", "e"]
    )


def leaves(domain: tuple[float, float]) -> st.SearchStrategy[str]:
    """``x``, ``x`` mapped onto about [-1, 1], ``x`` shifted to just outside the domain (a
    pole there after a division), and constants."""
    a, b = domain
    mid, half = a / 2 + b / 2, b / 2 - a / 2
    pole = [f"(x - {_num(math.nextafter(b, math.inf) + half / 8)})", f"({_num(a - half / 8)} - x)"]
    out = [st.just("x"), st.just("x"), st.sampled_from(pole), constants()]
    if half > 0 and math.isfinite(half):
        out.append(st.just(f"((x - {_num(mid)})/{_num(half)})"))
    return st.one_of(*out)


def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    fn = st.sampled_from(sorted(FUNCTIONS))
    op = st.sampled_from(["+", "-", "*", "/"])
    return st.one_of(
        st.tuples(fn, children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(children, op, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda u: f"({u})*({u})"),
        st.tuples(children, st.sampled_from(EXPONENTS)).map(lambda t: f"({t[0]})**{t[1]}"),
        st.tuples(st.sampled_from(SATURATIONS), st.sampled_from(GAINS), children).map(
            lambda t: t[0].format(k=t[1], u=t[2])
        ),
        st.tuples(children, st.sampled_from(["1e-300", "1e-12", "1.0"])).map(
            lambda t: f"1/(({t[0]})**2 + {t[1]})"
        ),
    )


def expressions(domain: tuple[float, float]) -> st.SearchStrategy[str]:
    """Trees of up to 5 leaves that depend on x (constants alone test little)."""
    return st.recursive(leaves(domain), extend, max_leaves=5).filter(_has_x)


def _has_x(text: str) -> bool:
    return re.search(r"\bx\b", text) is not None


# --- models ------------------------------------------------------------------------------

KINDS = ["construction", "adaptive", "spline", "chebyshev", "fourier", "relu_features", "mlp"]


@st.composite
def random_nets(draw: st.DrawFn, domain: tuple[float, float], activation: str | None = None):
    """``MLP.from_params`` of depth 1–3 (ReLU: 1–5): trained-like weights (breakpoints and
    transitions inside the domain) or arbitrary floats."""
    activation = activation or draw(st.sampled_from(sorted(REGISTRY)))
    depth = draw(st.integers(1, 5 if activation == "relu" else 3))
    widths = [draw(st.integers(1, MAX_WIDTH)) for _ in range(depth)]
    sizes = [1, *widths, 1]
    bias = draw(st.booleans() | st.just(True))
    if draw(st.integers(0, 4)) == 0:  # arbitrary floats
        weight = st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from(
            [0.0, 1e-300, -1e300, 1e300, 5e-324, 1.0, -1.0]
        )
        ws = [
            np.array([[draw(weight) for _ in range(m)] for _ in range(n)])
            for n, m in itertools.pairwise(sizes)
        ]
        bs = [np.array([draw(weight) for _ in range(m)]) for m in sizes[1:]]
    else:
        ws, bs = _trained_like(sizes, domain, draw(st.integers(0, 2**32 - 1)), draw)
    return MLP.from_params(ws, bs if bias else None, activation=activation)


def _trained_like(sizes: list[int], domain: tuple[float, float], seed: int, draw: st.DrawFn):
    rng = np.random.default_rng(seed)
    a, b = domain
    half = b / 2 - a / 2
    gain = draw(st.sampled_from([0.3, 1.0, 3.0, 10.0, 30.0]))
    w0 = rng.standard_normal((1, sizes[1])) * gain / half
    ws, bs = [w0], [-w0[0] * rng.uniform(a, b, sizes[1])]
    for n, m in itertools.pairwise(sizes[1:]):
        ws.append(rng.standard_normal((n, m)) / math.sqrt(n) * gain)
        bs.append(rng.standard_normal(m) * 0.3)
    ws[-1] = ws[-1] * draw(st.sampled_from([1e-3, 1.0, 1e3]))
    return ws, bs


@st.composite
def models(draw: st.DrawFn, target: Any, kind: str) -> Any:
    """A model of ``kind`` for ``target``; ``reject`` when the method refuses."""
    d = draw(st.integers(2, MAX_D))
    try:
        if kind == "construction":
            return construct.relu_interpolant(target, d)
        if kind == "adaptive":
            return construct.relu_interpolant(target, d, knots="adaptive")
        if kind == "spline":
            return baselines.cubic_spline(target, d)
        if kind == "chebyshev":
            return baselines.chebyshev(target, d)
        if kind in ("fourier", "relu_features"):
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            features = "fourier" if kind == "fourier" else "relu"
            return construct.random_features(target, d, features, rng=rng, n_samples=256)
        return draw(random_nets(target.domain))
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as err:
        COUNTS[f"model refused ({kind})"] += 1
        _note(f"model refused: {err}")
        assume(False)


def _describe(model: Any) -> str:
    arrays = model.to_arrays()
    return repr({k: (v.tolist() if v.ndim else v.item()) for k, v in arrays.items()})


# --- the properties ----------------------------------------------------------------------


def _accept(text: str, domain: tuple[float, float]) -> Any:
    """The target, or ``reject`` after counting the refusal (and noting it when the
    reference finds the function finite on a grid)."""
    try:
        return from_expr(text, domain)
    except ValueError as err:
        COUNTS["target refused"] += 1
        if _finite_on_grid(text, domain):
            COUNTS["target refused, finite on the reference's grid"] += 1
            if SURVEY:
                _log({"kind": "refused-finite", "expr": text, "domain": domain, "error": str(err)})
        assume(False)


def _finite_on_grid(text: str, domain: tuple[float, float], n: int = 200) -> bool:
    f = ref.expr_mp(text)
    a, b = domain
    with mpmath.mp.workdps(30):
        try:
            values = [f(mpmath.mpf(a) + (mpmath.mpf(b) - a) * i / n) for i in range(n + 1)]
        except (ref.Undefined, ref.Unevaluable, ZeroDivisionError, ValueError):
            return False
    return all(mpmath.isfinite(v) and abs(v) < 1e308 for v in values)


def check_certificate(text: str, domain: tuple[float, float], target: Any, model: Any) -> Any:
    """``value`` ≤ exact ``|e(x)|`` at the returned x; reference best ≤ ``upper``; no
    crash and no NaN for a model with finite parameters. Returns the certificate (None
    where there is none)."""
    _note(f"target {text!r} on {domain!r}; model {_describe(model)}")
    finite = all(
        np.all(np.isfinite(v)) for v in model.to_arrays().values() if v.dtype.kind == "f"
    )
    if not finite:
        COUNTS["model with non-finite parameters"] += 1
        return
    found = certify(text, domain, target, model)
    if found is None:
        return
    _note(f"certificate {found}")
    info = dict(expr=text, domain=domain, model=_describe(model), found=tuple(found))
    if math.isnan(found.value) or math.isnan(found.upper):
        return _fail("nan", f"{found}", **info)
    _tally("certified")
    COUNTS["tight"] += bool(found.tight)
    best = reference(text, model, domain, found.x)
    _note(f"reference {best}")
    if best.undefined:
        return _fail("accepted-undefined", f"target undefined at {best.undefined} grid points",
                     **info)
    if best.value - best.err > found.upper:
        _fail("upper-below-reference",
              f"reference {mpmath.nstr(best.value, 17)} at x={mpmath.nstr(best.x, 20)} > "
              f"upper {found.upper!r}", reference=mpmath.nstr(best.value, 20),
              ref_x=mpmath.nstr(best.x, 20), **info)
    if math.isfinite(found.x) and found.value > 0:
        try:
            exact, err = ref.error_at(text, model, found.x)
        except (ref.Undefined, ref.Unevaluable) as why:
            return _fail("value-point-undefined", f"{type(why).__name__} at x={found.x!r}",
                         **info)
        if found.value > exact + err:
            _fail("value-above-exact",
                  f"value {found.value!r} > exact |e({found.x!r})| = {mpmath.nstr(exact, 17)}",
                  exact=mpmath.nstr(exact, 20), **info)
    return found


@st.composite
def cases(draw: st.DrawFn, kinds: list[str]) -> tuple[str, tuple[float, float], Any, Any]:
    domain = draw(domains())
    text = draw(expressions(domain))
    target = _accept(text, domain)
    model = draw(models(target, draw(st.sampled_from(kinds))))
    return text, domain, target, model


@fuzz_settings(12)
@given(cases(["construction", "adaptive", "spline", "chebyshev"]))
def test_constructions_and_baselines_are_enclosed(case: Any) -> None:
    check_certificate(*case)


@fuzz_settings(10)
@given(cases(["fourier", "relu_features", "mlp"]))
def test_nets_are_enclosed(case: Any) -> None:
    check_certificate(*case)


# --- ReLU nets against piecewise-linear targets: exact ---------------------------------


def pl_expressions(domain: tuple[float, float]) -> st.SearchStrategy[str]:
    """Piecewise-linear targets: x, float constants, + -, abs, scaling by constants."""
    a, b = domain
    points = st.floats(a, b).map(_num)
    const = st.floats(-10, 10, allow_nan=False).map(_num) | st.sampled_from(
        ["0", "1e-300", "1e300", "2.0"]
    )
    base = st.one_of(
        st.just("x"),
        points.map(lambda p: f"(x - {p})"),
        st.just("0*x"),
        const,
    )

    def grow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            children.map(lambda u: f"abs({u})"),
            st.tuples(children, st.sampled_from(["+", "-"]), children).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(const, children).map(lambda t: f"{t[0]}*{t[1]}"),
            st.tuples(children, st.sampled_from(["3", "7.0", "0.1"])).map(
                lambda t: f"{t[0]}/{t[1]}"
            ),
        )

    return st.recursive(base, grow, max_leaves=4)


@st.composite
def pl_cases(draw: st.DrawFn) -> tuple[str, tuple[float, float], Any, Any]:
    domain = draw(domains())
    text = draw(pl_expressions(domain))
    target = _accept(text, domain)
    kind = draw(st.sampled_from(["construction", "relu_features", "mlp", "mlp", "adaptive"]))
    if kind == "mlp":
        model = draw(random_nets(domain, activation="relu"))
    else:
        model = draw(models(target, kind))
    return text, domain, target, model


@fuzz_settings(15)
@given(pl_cases(), st.booleans())
def test_relu_nets_against_piecewise_linear_targets_exactly(case: Any, floats: bool) -> None:
    # deep nets with their exact pieces, or (floats) with the float pieces and radii that
    # nets too dear for the exact pieces get (approx.nn.float_pieces)
    with _float_pieces(floats):
        check_exactly(*case)


@contextlib.contextmanager
def _float_pieces(on: bool):
    """Within the block, deep ReLU nets take the float pieces whatever their size."""
    saved = piecewise.DEEP_WORK
    piecewise.DEEP_WORK = 0 if on else saved
    try:
        yield
    finally:
        piecewise.DEEP_WORK = saved


def test_a_net_whose_real_function_overflows_is_checked_exactly() -> None:
    # found by the long profile: the net reaches 1e600 (upper inf, non-finite), and the
    # check itself must not overflow converting the exact sup to a float
    model = MLP.from_params(
        [np.array([[0.0, 1e-300, -7.80937663607018, -1e300, 1e300]]),
         np.array([[805968.0278520745], [1e300], [1e-300], [-1e300], [1e-300]])],
        [np.array([-419914.69491084956, -7.80937663607018, 32074.06016767875,
                   1.281798572591295e-133, -1e300]), np.array([1e-300])],
        activation="relu",
    )
    text, domain = "(-7.80937663607018)*0", (-1.0, 1.0)
    check_exactly(text, domain, from_expr(text, domain), model)


def check_exactly(text: str, domain: tuple[float, float], target: Any, model: Any) -> None:
    """``value ≤ |e(x)|`` and ``value ≤ sup ≤ upper`` in exact rationals."""
    _note(f"target {text!r} on {domain!r}; model {_describe(model)}")
    if not all(np.all(np.isfinite(v)) for v in model.to_arrays().values() if v.dtype.kind == "f"):
        return
    found = certify(text, domain, target, model)
    if found is None:
        return
    _note(f"certificate {found}")
    info = dict(expr=text, domain=domain, model=_describe(model), found=tuple(found))
    _tally("certified")
    COUNTS["certified (exact)"] += 1
    try:
        with time_limit(TIME_LIMIT):
            sup, where = ref.exact_pl_sup(text, model, domain)
    except _TooSlow:
        COUNTS["reference: _TooSlow"] += 1
        assume(False)
    _note(f"exact sup {_show(sup)} at {_show(where)}")
    if math.isnan(found.value) or math.isnan(found.upper):
        return _fail("nan", f"{found}", **info)
    if math.isfinite(found.upper) and sup > Fraction(found.upper):
        _fail("exact: upper < sup", f"sup {_show(sup)} at {_show(where)} > {found.upper!r}",
              sup=_show(sup), where=_show(where), **info)
    at_x = _exact_error_at(text, model, domain, found.x)
    if Fraction(found.value) > at_x:
        _fail("exact: value > |e(x)|", f"value {found.value!r} > {_show(at_x)}", **info)
    if Fraction(found.value) > sup:
        _fail("exact: value > sup", f"value {found.value!r} > sup {_show(sup)}", **info)


def _show(q: Fraction) -> str:
    """A rational for a message: as a float, or its order of magnitude past the floats."""
    try:
        return repr(float(q))
    except OverflowError:  # a real function past the largest float (upper is then inf)
        bits = abs(q).numerator.bit_length() - q.denominator.bit_length()
        return f"{'-' if q < 0 else ''}2^{bits}"


def _exact_error_at(text: str, model: Any, domain: tuple[float, float], x: float) -> Fraction:
    f = ref.pl_expr(text, domain)
    weights, biases, _ = ref.net_arrays(model)
    g = ref.relu_pl(weights, biases, domain)
    p = Fraction(x)
    return abs(f.at([p])[0] - g.at([p])[0])


# --- what the fuzzer found: explicit regression tests ------------------------------------

_SQUARE = "((x - (-999.9999999999999)))*((x - (-999.9999999999999)))"
_U8 = "((x - (-1.4999999999999996))/5.551115123125783e-16)"
_EIGHTH = f"(({_U8})*({_U8}))*(({_U8})*({_U8}))"
_ARCTAN4 = "(arctan(x - (-1.4999999999999998)))**4"


def _shallow(w: list[float], b: list[float], v: list[float], c: float = 0.0) -> MLP:
    return MLP.from_params([[w], [[t] for t in v]], [b, [c]])


def _on_domain(text: str, domain: tuple[float, float], make: Any) -> Any:
    return lambda: make(from_expr(text, domain))


#: the model kinds for the domains a few floats wide (d = 5: the knots stay distinct)
_KINDS = [
    ("construction", lambda t: construct.relu_interpolant(t, 5)),
    ("spline", lambda t: baselines.cubic_spline(t, 5)),
    ("chebyshev", lambda t: baselines.chebyshev(t, 5)),
]

FOUND = [
    pytest.param(  # value 5.98e-26 > exact |e(x)| = 2.10e-26 (checked in rationals)
        _SQUARE,
        (-1000.0000000000007, -1000.0),
        lambda: _shallow(
            [9.284425080598642e-13, 2.4063713984408724e-12, 2.2737367544323206e-13,
             3.410605131648481e-13, 3.410605131648481e-13, 2.2737367544323206e-13],
            [9.284425080598654e-10, 2.406371398440874e-09, 2.273736754432322e-10,
             3.4106051316484824e-10, 3.410605131648482e-10, 2.2737367544323209e-10],
            [1.0, -1.0, 1.0, 1.0, 1.0, 1.0],
        ),
        id="value-above-exact-square",
    ),
    pytest.param(  # value 1.89 > exact |e(x)| = 0.352
        _EIGHTH,
        (-1.5, -1.499999999999999),
        lambda: _shallow(
            [151115727451828.78, 903742885659179.1, 749675679155556.9, 380740797681365.44,
             1.823128610292862e16],
            [226673591177743.34, 1355614328488768.8, 1124513518733335.1, 571111196522048.0,
             2.734692915439291e16],
            [1.0, -1.0, 1.0, 1.0, 1.0],
        ),
        id="value-above-exact-eighth-power",
    ),
    pytest.param(  # a spline on five floats: value 2.1e-62 > exact |e(x)| = 1.0e-92
        _ARCTAN4,
        (-1.500000000000001, -1.5),
        lambda: baselines.SplineModel(
            [-1.500000000000001, -1.5000000000000009, -1.5000000000000004,
             -1.5000000000000002, -1.5],
            [3.150401484417203e-60, 1.5192908393215678e-60, 1.969000927760752e-61,
             3.8893845486632136e-62, 2.4308653429145085e-63],
        ),
        id="spline-on-five-floats",
    ),
    pytest.param(  # UPPER below the sup: the chord of 16(1-t)^4 on two floats has sup 7.5595,
        # upper 6.0
        "(((x - 772192.1306266619)/5.820766091346741e-11))**4",
        (772192.1306266618, 772192.1306266619),
        lambda: baselines.SplineModel([772192.1306266618, 772192.1306266619], [16.0, 0.0]),
        id="upper-below-sup-chord-on-two-floats",
    ),
    pytest.param(  # value 0.03125 > exact |e(x)| = 1.2e-16
        "((x - (-999999999999999.9)))*((x - (-999999999999999.9)))",
        (-1000000000000000.4, -1000000000000000.0),
        lambda: _shallow(
            [1.0, 1.0, -1.0],
            [1000000000000000.4, 1000000000000000.2, -1000000000000000.1],
            [-0.6249999999999991, 0.24999999999999836, 0.24999999999999964],
            0.18749999999999986,
        ),
        id="value-above-exact-near-1e15",
    ),
    pytest.param(  # value 7.99e-177 > exact |e(x)| (tiny numbers, two floats)
        "(x)**2",
        (-1.043137402550096e-88, -1.0431374025500957e-88),
        lambda: _shallow(
            [3.8994337276924794e-73, 3.899433727692481e-73],
            [4.067645170121372e-161, 4.067645170121373e-161],
            [1.0, -1.0],
        ),
        id="value-above-exact-tiny",
    ),
    pytest.param(  # OverflowError in LocalPolys.ball_at (reach ** n)
        "x",
        (-5e299, 5e299),
        lambda: _shallow([0.5, 1.5], [7.5e299, 7.5e299], [-1.0, 1.0]),
        id="crash-relu-near-1e300",
    ),
    pytest.param(  # OverflowError in LocalPolys.ball_at, for a spline
        "(arccos(x/5e+99))*(arccos(x/5e+99))",
        (-5e99, 5e99),
        lambda: baselines.cubic_spline(
            from_expr("(arccos(x/5e+99))*(arccos(x/5e+99))", (-5e99, 5e99)), 41
        ),
        id="crash-spline-near-1e99",
    ),
    pytest.param(  # NaN: the spline's cubics per unit of x (divided by h^3, h ~ 1e-150)
        # overflowed; its cubics in each cell's own variable do not
        "((x - 1.2033009250726047e-134)/9.775796363198735e-150)**2",
        (1.2033009250726037e-134, 1.2033009250726056e-134),
        lambda: baselines.SplineModel(
            [1.2033009250726037e-134, 1.203300925072604e-134, 1.2033009250726042e-134,
             1.2033009250726044e-134, 1.203300925072605e-134, 1.2033009250726051e-134,
             1.2033009250726054e-134, 1.2033009250726056e-134],
            [1.0, 0.5625, 0.25, 0.0625, 0.0625, 0.25, 0.5625, 1.0],
        ),
        id="nan-spline-on-eight-floats-near-1e-134",
    ),
    *[
        pytest.param(  # value above the exact |e(x)| (4.3e-16 > 8.9e-17): the point found
            # in x scaled by 2^1023 mapped back to a subnormal float, which rounds
            f"(((x - {c})/{c}))*(((x - {c})/{c}))",
            (0.0, knots[-1]),
            lambda knots=knots, values=values: baselines.SplineModel(knots, values),
            id=f"value-above-exact-spline-on-subnormal-floats-{k}",
        )
        for k, (c, knots, values) in enumerate([
            (1e-323, [0.0, 5e-324, 1e-323, 1.5e-323, 2e-323, 2.5e-323],
             [1.0, 0.25, 0.0, 0.25, 1.0, 2.25]),
            (1.5e-323, [0.0, 5e-324, 1e-323, 1.5e-323, 2e-323, 3e-323],
             [1.0, 0.4444444444444444, 0.1111111111111111, 0.0, 0.1111111111111111, 1.0]),
        ])
    ],
    *[
        pytest.param(  # upper inf before: the target's Taylor coefficients per unit of
            # x (near 1e150^k) overflowed; per unit of x scaled to the width, they do not
            "((x-1e-134)/1e-149)**3",
            (1e-134, 1.000000000000001e-134),
            _on_domain("((x-1e-134)/1e-149)**3", (1e-134, 1.000000000000001e-134), make),
            id=f"{name}-on-eight-floats-near-1e-134",
        )
        for name, make in _KINDS
    ],
    *[
        pytest.param(  # upper inf before for the construction and the spline: per unit
            # of x, coefficients of size 1e-300^k vanish
            "(x/1e300)**3",
            (1e300, 1.0000000000000012e300),
            _on_domain("(x/1e300)**3", (1e300, 1.0000000000000012e300), make),
            id=f"{name}-on-eight-floats-near-1e300",
        )
        for name, make in _KINDS
    ],
]


@pytest.mark.parametrize(("text", "domain", "make"), FOUND)
def test_inputs_the_fuzzer_found(text: str, domain: tuple[float, float], make: Any) -> None:
    if SURVEY:
        pytest.skip("survey mode records instead of failing")
    found = check_certificate(text, domain, from_expr(text, domain), make())
    # every one of these has a finite certificate (models of finite weights, finite
    # real functions): none may come back infinite or NaN
    assert found is not None and math.isfinite(found.value) and math.isfinite(found.upper), found
