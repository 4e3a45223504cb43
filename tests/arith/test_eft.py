"""Error-free transformations: exact against rational arithmetic."""

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from approx.arith.eft import split, two_product, two_sum

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e290, max_value=1e290)


@given(finite, finite)
def test_two_sum_is_exact(a, b):
    s, e = two_sum(a, b)
    assert s == a + b
    assert Fraction(s) + Fraction(e) == Fraction(a) + Fraction(b)


@given(finite)
def test_split_halves_are_exact_and_short(a):
    hi, lo = split(a)
    assert Fraction(hi) + Fraction(lo) == Fraction(a)
    for part in (hi, lo):  # at most 26 significant bits each
        m = Fraction(part)
        if m:
            n, d = abs(m.numerator), m.denominator
            while n % 2 == 0:
                n //= 2
            assert n.bit_length() <= 27 and d & (d - 1) == 0


@given(
    st.floats(min_value=-1e150, max_value=1e150, allow_nan=False),
    st.floats(min_value=-1e150, max_value=1e150, allow_nan=False),
)
def test_two_product_is_exact_away_from_underflow(a, b):
    p, e = two_product(a, b)
    assert p == a * b
    if abs(a * b) > 1e-280 or a == 0 or b == 0:
        assert Fraction(p) + Fraction(e) == Fraction(a) * Fraction(b)
