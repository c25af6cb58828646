"""Ed25519 signature verification in pure Python (RFC 8032 section 5.1.7).

SourceHut signs its webhooks with Ed25519 and the standard library has no
Ed25519.  karajo ships as a zipapp that must run on a bare Python without
compiled packages, so `webhook_auth` falls back to this module when
`cryptography` cannot be imported.  Only verification is here: karajo never
signs with Ed25519.

The checks match OpenSSL (which `cryptography` wraps) and Go's crypto/ed25519
(which the original karajo uses), so a request is accepted or refused the same
way whichever path runs:

- S must be below the group order L (RFC 8032 section 5.1.7, step 1);
- R is never decoded: the check computes R' = [S]B - [k]A and compares its
  canonical encoding with the 32 bytes received, which also refuses a
  non-canonical R;
- the equation is the cofactorless one, which RFC 8032 allows as "sufficient";
- the public key is decoded leniently, as OpenSSL and Go do: a y in [p, 2^255)
  is taken modulo p and x = 0 with the sign bit set stands for x = 0.  The key
  comes from the configuration, not from the request.

Points use extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z and
x*y = T/Z, and the addition and doubling formulas of RFC 8032 section 5.1.4.
This is variable-time code, which is fine for verification: every input is
public.
"""

from __future__ import annotations

import functools
import hashlib

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_D2 = 2 * _D % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Y_MASK = (1 << 255) - 1

# Scalars are processed four bits at a time; every scalar here is below
# 2**256, hence 64 digits.
_WINDOW_BITS = 4
_WINDOW_SIZE = 1 << _WINDOW_BITS
_WINDOW_MASK = _WINDOW_SIZE - 1
_DIGITS = 256 // _WINDOW_BITS

Point = tuple[int, int, int, int]
# A point prepared for addition: (Y + X, Y - X, 2 * Z, 2 * d * T).
Cached = tuple[int, int, int, int]

_IDENTITY: Point = (0, 1, 1, 0)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Tell whether `signature` is a valid Ed25519 signature of `message`."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    public_key, signature = bytes(public_key), bytes(signature)
    point_a = decode_point(public_key)
    if point_a is None:
        return False
    r_bytes = signature[:32]
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False

    digest = hashlib.sha512(r_bytes + public_key + bytes(message)).digest()
    k = int.from_bytes(digest, "little") % _L
    check = _add(_multiply(k, _negate(point_a)), _multiply_base(s))
    return encode_point(check) == r_bytes


def is_valid_public_key(public_key: bytes) -> bool:
    """Tell whether `public_key` has the right size and encodes a curve point."""
    return len(public_key) == PUBLIC_KEY_SIZE and decode_point(public_key) is not None


def decode_point(data: bytes) -> Point | None:
    """Decode a 32-byte point (RFC 8032 section 5.1.3); None when off the curve."""
    if len(data) != PUBLIC_KEY_SIZE:
        return None
    n = int.from_bytes(data, "little")
    y = (n & _Y_MASK) % _P
    x = _recover_x(y, n >> 255)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def encode_point(point: Point) -> bytes:
    """Encode a point as 32 bytes: y, with the parity of x in the top bit."""
    x, y, z, _ = point
    z_inv = pow(z, _P - 2, _P)
    x = x * z_inv % _P
    y = y * z_inv % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _recover_x(y: int, sign: int) -> int | None:
    # x^2 = u / v from the curve equation -x^2 + y^2 = 1 + d x^2 y^2.
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P

    # RFC 8032 section 5.1.3, step 2: a single exponentiation gives a root
    # of u/v, or that root times sqrt(-1), without computing 1/v first.
    v3 = v * v * v % _P
    x = u * v3 * pow(u * v3 * v3 * v, (_P - 5) // 8, _P) % _P
    vx2 = v * x * x % _P
    if vx2 == (-u) % _P:
        x = x * _SQRT_M1 % _P
    elif vx2 != u:
        return None

    if x & 1 != sign:
        x = (_P - x) % _P
    return x


def _negate(point: Point) -> Point:
    x, y, z, t = point
    return (_P - x, y, z, _P - t)


def _cache(point: Point) -> Cached:
    x, y, z, t = point
    return ((y + x) % _P, (y - x) % _P, 2 * z % _P, _D2 * t % _P)


def _add_cached(point: Point, other: Cached) -> Point:
    x1, y1, z1, t1 = point
    y_plus_x, y_minus_x, z2_twice, t2_d2 = other
    a = (y1 - x1) * y_minus_x % _P
    b = (y1 + x1) * y_plus_x % _P
    c = t1 * t2_d2 % _P
    d = z1 * z2_twice % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _add(point: Point, other: Point) -> Point:
    return _add_cached(point, _cache(other))


def _double(point: Point) -> Point:
    x, y, z, _ = point
    a = x * x % _P
    b = y * y % _P
    c = 2 * z * z % _P
    h = a + b
    e = h - (x + y) * (x + y) % _P
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: Point) -> Point:
    # Fixed 4-bit window: 15 multiples of the point, then per digit four
    # doublings and at most one addition.
    multiples = [_cache(point)]
    current = point
    for _ in range(_WINDOW_SIZE - 2):
        current = _add_cached(current, multiples[0])
        multiples.append(_cache(current))

    result = _IDENTITY
    for index in reversed(range(_DIGITS)):
        for _ in range(_WINDOW_BITS):
            result = _double(result)
        digit = scalar >> (index * _WINDOW_BITS) & _WINDOW_MASK
        if digit:
            result = _add_cached(result, multiples[digit - 1])
    return result


def _multiply_base(scalar: int) -> Point:
    # With a table of digit * 16^i * B no doubling is needed, only one
    # addition per non-zero digit.
    table = _base_table()
    result = _IDENTITY
    for index in range(_DIGITS):
        digit = scalar >> (index * _WINDOW_BITS) & _WINDOW_MASK
        if digit:
            result = _add_cached(result, table[index][digit - 1])
    return result


@functools.cache
def _base_table() -> list[list[Cached]]:
    # Built on first use, not at import: about 1000 point additions that a
    # karajo without SourceHut jobs never needs.
    rows = []
    row_base = _base_point()
    for _ in range(_DIGITS):
        row = [_cache(row_base)]
        current = row_base
        for _ in range(_WINDOW_SIZE - 2):
            current = _add_cached(current, row[0])
            row.append(_cache(current))
        rows.append(row)
        row_base = _add_cached(current, row[0])
    return rows


def _base_point() -> Point:
    # RFC 8032 section 5.1: y = 4/5 and the x that is even.
    y = 4 * pow(5, _P - 2, _P) % _P
    x = _recover_x(y, 0)
    assert x is not None
    return (x, y, 1, x * y % _P)
