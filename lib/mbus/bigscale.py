# v * 10**e where a float cannot do it in one exact step: an int of 53 bits
# or more scaled down, or a power of ten past 10**22. Rare (64-bit counters,
# long chains of scale VIFEs), so mbus.values.scale imports this on first use.
# The result is the float nearest to the exact value, as CPython's int / int
# gives it, computed from integers so MicroPython gets the same float.
from math import ldexp


def scale_big(v, e):
    if e >= 0:
        return v * _pow10(e)  # a float v: an int v never comes here
    if type(v) is not int:
        return v / _pow10(-e)
    return -_quotient(-v, 10 ** -e) if v < 0 else _quotient(v, 10 ** -e)


def _pow10(k):
    # 10**k as a float by exact steps (a big int's conversion differs).
    f = 1.0
    while k > 22:
        f *= 1e22
        k -= 22
    return f * 10 ** k


def _bits(n):
    return len(bin(n)) - 2  # MicroPython's int has no bit_length


def _quotient(n, d):
    """The float nearest to n / d for ints n >= 0, d > 0 (round half even)."""
    if not n:
        return 0.0
    t = 55 + _bits(d) - _bits(n)  # a quotient of 55 or 56 bits
    q, r = divmod(n << t, d) if t >= 0 else divmod(n, d << -t)
    drop = _bits(q) - 53
    low = q & ((1 << drop) - 1)
    q >>= drop
    half = 1 << (drop - 1)
    if low > half or (low == half and (r or q & 1)):
        q += 1
    return ldexp(q, drop - t)
