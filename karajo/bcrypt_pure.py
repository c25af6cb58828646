"""bcrypt password verification in pure Python, for a bare Python.

Why this exists: user.conf holds bcrypt hashes (`$2a$`, `$2b$`, `$2y$`), the
standard library has no bcrypt, and karajo ships as a zipapp that must run
on a Python with no compiled packages.  `karajo.session` uses the compiled
`bcrypt` package when it can be imported and this module otherwise.  Only
verification is here: karajo never creates hashes.

The result is the same as the compiled library's and Go's
`bcrypt.CompareHashAndPassword` (which the original karajo uses):

- the key is the password's bytes followed by one NUL byte, cut to 72 bytes,
  so bytes past the 72nd do not count;
- `$2a$`, `$2b$` and `$2y$` compute the same thing: their differences lie in
  bugs of other implementations with passwords over 255 bytes (OpenBSD) or
  with bytes above 0x7f (crypt_blowfish's `$2x$`, refused here), which a
  72-byte key never reaches;
- the salt is the 16 bytes its 22 characters decode to, and the result is
  compared, in constant time, with the hash's last 31 characters as written.

It is slow: 2**cost rounds of the Blowfish key schedule, each 1042 block
encryptions, run in the interpreter.  On a 2020s x86-64 core with CPython
3.11 a check takes about 1.2 s at cost 8 and 5 s at cost 10 (the usual
default), doubling with each step; the compiled library needs 0.06 s at
cost 10.  `karajo.session` therefore runs it in a child process (see
`main`) so that the server keeps answering while a check runs.

Blowfish's initial state is the fractional part of pi in hexadecimal; it is
computed once per process (tens of milliseconds) instead of being written out
as a table of 1042 constants.
"""

from __future__ import annotations

import functools
import hmac
import sys

BCRYPT_PREFIXES = ("2a", "2b", "2y")
MAX_KEY_BYTES = 72
MIN_COST = 4
MAX_COST = 31
HASH_LENGTH = 60

_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_DECODE = {char: index for index, char in enumerate(_ALPHABET)}
_SALT_CHARS = 22
_DIGEST_CHARS = 31
_SALT_BYTES = 16
# The digest keeps 23 of the 24 bytes that the encryption below produces.
_DIGEST_BYTES = 23
_MAGIC = b"OrpheanBeholderScryDoubt"
_MAGIC_ENCRYPTIONS = 64

_P_WORDS = 18
_S_WORDS = 256
_PI_WORDS = _P_WORDS + 4 * _S_WORDS
_MASK = 0xFFFFFFFF

# Exit statuses of `main`, the child-process entry point.
EXIT_MATCH = 0
EXIT_MISMATCH = 1
EXIT_ERROR = 2


def checkpw(password: bytes, hashed: str | bytes) -> bool:
    """Whether `password` matches the bcrypt hash `hashed`.

    Raises:
        ValueError: `hashed` is not a `$2a$`, `$2b$` or `$2y$` bcrypt hash.
    """
    if isinstance(hashed, bytes):
        hashed = hashed.decode("ascii", "replace")
    cost, salt, expected = parse_hash(hashed)
    digest = _bcrypt_digest(password, cost, salt)
    return hmac.compare_digest(_encode(digest)[:_DIGEST_CHARS], expected)


def parse_hash(hashed: str) -> tuple[int, bytes, str]:
    """Split `$2b$10$<salt><digest>` into cost, salt bytes and digest text.

    Raises:
        ValueError: the text is not a bcrypt hash karajo can check.
    """
    if len(hashed) != HASH_LENGTH or hashed[0] != "$" or hashed[6] != "$":
        raise ValueError("not a bcrypt hash: want $2b$NN$ and 53 characters")
    prefix, cost_text = hashed[1:3], hashed[4:6]
    if prefix not in BCRYPT_PREFIXES or hashed[3] != "$":
        raise ValueError(f"bcrypt variant ${prefix}$ is not one of $2a$, $2b$, $2y$")
    if not cost_text.isdigit() or not MIN_COST <= int(cost_text) <= MAX_COST:
        raise ValueError(f"bcrypt cost {cost_text!r} is not in {MIN_COST}..{MAX_COST}")
    body = hashed[7:]
    if any(char not in _DECODE for char in body):
        raise ValueError("bcrypt hash has characters outside its base64 alphabet")
    salt = _decode(body[:_SALT_CHARS])[:_SALT_BYTES]
    return int(cost_text), salt, body[_SALT_CHARS:]


def _encode(data: bytes) -> str:
    """bcrypt's base64: its own alphabet, big-endian bit order, no padding."""
    bits = int.from_bytes(data, "big")
    pad = -len(data) * 8 % 6
    bits <<= pad
    count = (len(data) * 8 + pad) // 6
    return "".join(
        _ALPHABET[(bits >> (6 * (count - 1 - index))) & 0x3F] for index in range(count)
    )


def _decode(text: str) -> bytes:
    bits = 0
    for char in text:
        bits = bits << 6 | _DECODE[char]
    extra = len(text) * 6 % 8
    return (bits >> extra).to_bytes(len(text) * 6 // 8, "big")


def _bcrypt_digest(password: bytes, cost: int, salt: bytes) -> bytes:
    key = (password + b"\0")[:MAX_KEY_BYTES]
    key_words = _cycled_words(key)
    salt_words = _cycled_words(salt)
    zero_words = [0] * _P_WORDS
    state = _initial_state()
    _expand_key(state, key_words, salt_words)
    for _ in range(1 << cost):
        _expand_key(state, key_words, zero_words)
        _expand_key(state, salt_words, zero_words)
    return _encrypt_magic(state)[:_DIGEST_BYTES]


def _cycled_words(data: bytes) -> list[int]:
    """The 18 words Blowfish XORs into P: `data` repeated, read big-endian."""
    repeated = data * (4 * _P_WORDS // len(data) + 1)
    return [
        int.from_bytes(repeated[4 * index : 4 * index + 4], "big")
        for index in range(_P_WORDS)
    ]


def _initial_state() -> list[list[int]]:
    """P and the four S-boxes, fresh copies of the digits of pi."""
    words = _pi_words()
    state = [list(words[:_P_WORDS])]
    for box in range(4):
        start = _P_WORDS + box * _S_WORDS
        state.append(list(words[start : start + _S_WORDS]))
    return state


@functools.cache
def _pi_words() -> tuple[int, ...]:
    """The first 1042 32-bit words of pi's fractional part.

    Machin's formula pi = 16 atan(1/5) - 4 atan(1/239) in fixed point, with
    guard bits that absorb the rounding of each series term.
    """
    guard = 64
    bits = 32 * _PI_WORDS + guard
    one = 1 << bits
    pi = 16 * _atan_inverse(5, one) - 4 * _atan_inverse(239, one)
    fraction = (pi - 3 * one) >> guard
    return tuple(
        (fraction >> (32 * (_PI_WORDS - 1 - index))) & _MASK
        for index in range(_PI_WORDS)
    )


def _atan_inverse(x: int, one: int) -> int:
    """atan(1/x) * one, by its Taylor series."""
    total = power = one // x
    square = x * x
    divisor = 1
    sign = 1
    while power:
        power //= square
        divisor += 2
        sign = -sign
        total += sign * (power // divisor)
    return total


def _expand_key(state: list[list[int]], key: list[int], salt: list[int]) -> None:
    """Blowfish's key schedule with bcrypt's salt, on `state` in place.

    `key` and `salt` are 18 words each, already cycled; the salt's words are
    XORed into the running block two at a time, wrapping every four words.
    With an all-zero salt this is plain Blowfish key expansion.
    """
    p, s0, s1, s2, s3 = state
    for index in range(_P_WORDS):
        p[index] ^= key[index]
    left = right = 0
    salt_at = 0
    for table in (p, s0, s1, s2, s3):
        for index in range(0, len(table), 2):
            left ^= salt[salt_at]
            right ^= salt[salt_at + 1]
            salt_at ^= 2
            left, right = _encrypt_block(left, right, p, s0, s1, s2, s3)
            table[index] = left
            table[index + 1] = right


def _encrypt_block(
    a: int,
    b: int,
    p: list[int],
    s0: list[int],
    s1: list[int],
    s2: list[int],
    s3: list[int],
) -> tuple[int, int]:
    """One Blowfish block: 16 Feistel rounds, unrolled because this is hot.

    Round i XORs P[i] and F(the other half) into one half, with
    F(x) = ((S0[x0] + S1[x1]) ^ S2[x2]) + S3[x3] mod 2**32 over the bytes of
    x, most significant first.  The lines lean on precedence (+ before &
    before ^) and mask once at the end of F, which gives the same low 32
    bits as masking after each addition.
    """
    m = _MASK
    a ^= p[0]
    b ^= (s0[a >> 24] + s1[a >> 16 & 255] ^ s2[a >> 8 & 255]) + s3[a & 255] & m ^ p[1]
    a ^= (s0[b >> 24] + s1[b >> 16 & 255] ^ s2[b >> 8 & 255]) + s3[b & 255] & m ^ p[2]
    b ^= (s0[a >> 24] + s1[a >> 16 & 255] ^ s2[a >> 8 & 255]) + s3[a & 255] & m ^ p[3]
    a ^= (s0[b >> 24] + s1[b >> 16 & 255] ^ s2[b >> 8 & 255]) + s3[b & 255] & m ^ p[4]
    b ^= (s0[a >> 24] + s1[a >> 16 & 255] ^ s2[a >> 8 & 255]) + s3[a & 255] & m ^ p[5]
    a ^= (s0[b >> 24] + s1[b >> 16 & 255] ^ s2[b >> 8 & 255]) + s3[b & 255] & m ^ p[6]
    b ^= (s0[a >> 24] + s1[a >> 16 & 255] ^ s2[a >> 8 & 255]) + s3[a & 255] & m ^ p[7]
    a ^= (s0[b >> 24] + s1[b >> 16 & 255] ^ s2[b >> 8 & 255]) + s3[b & 255] & m ^ p[8]
    b ^= (s0[a >> 24] + s1[a >> 16 & 255] ^ s2[a >> 8 & 255]) + s3[a & 255] & m ^ p[9]
    a ^= (s0[b >> 24] + s1[b >> 16 & 255] ^ s2[b >> 8 & 255]) + s3[b & 255] & m ^ p[10]
    b ^= (s0[a >> 24] + s1[a >> 16 & 255] ^ s2[a >> 8 & 255]) + s3[a & 255] & m ^ p[11]
    a ^= (s0[b >> 24] + s1[b >> 16 & 255] ^ s2[b >> 8 & 255]) + s3[b & 255] & m ^ p[12]
    b ^= (s0[a >> 24] + s1[a >> 16 & 255] ^ s2[a >> 8 & 255]) + s3[a & 255] & m ^ p[13]
    a ^= (s0[b >> 24] + s1[b >> 16 & 255] ^ s2[b >> 8 & 255]) + s3[b & 255] & m ^ p[14]
    b ^= (s0[a >> 24] + s1[a >> 16 & 255] ^ s2[a >> 8 & 255]) + s3[a & 255] & m ^ p[15]
    a ^= (s0[b >> 24] + s1[b >> 16 & 255] ^ s2[b >> 8 & 255]) + s3[b & 255] & m ^ p[16]
    # The last round's swap is undone: the halves leave crossed.
    return b ^ p[17], a


def _encrypt_magic(state: list[list[int]]) -> bytes:
    p, s0, s1, s2, s3 = state
    words = [
        int.from_bytes(_MAGIC[index : index + 4], "big")
        for index in range(0, len(_MAGIC), 4)
    ]
    for index in range(0, len(words), 2):
        left, right = words[index], words[index + 1]
        for _ in range(_MAGIC_ENCRYPTIONS):
            left, right = _encrypt_block(left, right, p, s0, s1, s2, s3)
        words[index], words[index + 1] = left, right
    return b"".join(word.to_bytes(4, "big") for word in words)


def main() -> int:
    """Child-process entry: the hash on stdin's first line, then the password.

    The password goes over a pipe, never on the command line where `ps`
    would show it.  Exit status 0 on a match, 1 on a mismatch, 2 when the
    hash is malformed.
    """
    data = sys.stdin.buffer.read()
    hashed, _, password = data.partition(b"\n")
    try:
        matches = checkpw(password, hashed.decode("ascii", "replace"))
    except ValueError as error:
        print(f"karajo.bcrypt_pure: {error}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_MATCH if matches else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
