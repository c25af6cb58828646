from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karajo import ed25519

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P

# RFC 8032 section 7.1, TEST 1 to 3: public key, message, signature.
RFC_TESTS = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]
RFC_VECTORS = [
    pytest.param(*test, id=f"test{number}")
    for number, test in enumerate(RFC_TESTS, start=1)
]

# The neutral element (0, 1) in three encodings: canonical, y + p, and with
# the sign bit set although x = 0.
IDENTITY = (1).to_bytes(32, "little")
IDENTITY_Y_PLUS_P = (P + 1).to_bytes(32, "little")
IDENTITY_SIGN_SET = (1 | 1 << 255).to_bytes(32, "little")


def unhex(*values: str) -> tuple[bytes, ...]:
    return tuple(bytes.fromhex(value) for value in values)


def flip_bit(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8 % len(data)] ^= 1 << bit % 8
    return bytes(flipped)


def off_curve_key() -> bytes:
    # A y for which (y^2 - 1) / (d y^2 + 1) has no square root mod p
    # (Euler's criterion), found without the code under test.
    for y in range(2, 100):
        ratio = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
        if pow(ratio, (P - 1) // 2, P) != 1:
            return y.to_bytes(32, "little")
    raise AssertionError("no off-curve y below 100")


@pytest.mark.parametrize(("key", "message", "signature"), RFC_VECTORS)
def test_verify_accepts_rfc8032_vectors(key: str, message: str, signature: str) -> None:
    assert ed25519.verify(*unhex(key, message, signature))


@pytest.mark.parametrize(("key", "message", "signature"), RFC_VECTORS)
def test_verify_refuses_tampered_rfc8032_vectors(
    key: str, message: str, signature: str
) -> None:
    public_key, data, sig = unhex(key, message, signature)
    assert not ed25519.verify(public_key, data + b"x", sig)
    assert not ed25519.verify(public_key, data, flip_bit(sig, 3))
    assert not ed25519.verify(public_key, data, flip_bit(sig, 300))
    assert not ed25519.verify(flip_bit(public_key, 9), data, sig)


@pytest.mark.parametrize(("key", "message", "signature"), RFC_VECTORS)
def test_verify_refuses_non_canonical_s(key: str, message: str, signature: str) -> None:
    # S + L passes the group equation, so only the S < L rule refuses it.
    public_key, data, sig = unhex(key, message, signature)
    s = int.from_bytes(sig[32:], "little")
    malleated = sig[:32] + (s + L).to_bytes(32, "little")
    assert not ed25519.verify(public_key, data, malleated)


@pytest.mark.parametrize(
    ("key_size", "signature_size"), [(31, 64), (33, 64), (32, 63), (32, 65), (0, 0)]
)
def test_verify_refuses_wrong_lengths(key_size: int, signature_size: int) -> None:
    key, _, signature = unhex(*RFC_TESTS[0])
    key = (key * 2)[:key_size]
    signature = (signature * 2)[:signature_size]
    assert not ed25519.verify(key, b"", signature)


def test_verify_refuses_key_off_the_curve() -> None:
    _, message, signature = unhex(*RFC_TESTS[1])
    assert not ed25519.verify(off_curve_key(), message, signature)
    assert not ed25519.is_valid_public_key(off_curve_key())


@pytest.mark.parametrize("key", [IDENTITY, IDENTITY_Y_PLUS_P, IDENTITY_SIGN_SET])
def test_verify_decodes_key_leniently_like_openssl(key: bytes) -> None:
    # With the neutral element as key, R = [S]B holds for any message; here
    # S = 0 and R is the neutral element.  OpenSSL and Go accept all three
    # encodings of the key, and so must the fallback.
    signature = IDENTITY + bytes(32)
    assert ed25519.is_valid_public_key(key)
    assert ed25519.verify(key, b"any message", signature)
    assert _cryptography_verify(key, b"any message", signature)


def test_verify_refuses_non_canonical_r() -> None:
    signature = IDENTITY_Y_PLUS_P + bytes(32)
    assert not ed25519.verify(IDENTITY, b"m", signature)
    assert not _cryptography_verify(IDENTITY, b"m", signature)


def test_encode_point_round_trips_rfc_keys() -> None:
    for test in RFC_TESTS:
        (key,) = unhex(test[0])
        point = ed25519.decode_point(key)
        assert point is not None
        assert ed25519.encode_point(point) == key


@settings(max_examples=40, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    message=st.binary(max_size=200),
    bit=st.integers(min_value=0, max_value=8 * 64 - 1),
)
def test_verify_agrees_with_cryptography(seed: bytes, message: bytes, bit: int) -> None:
    public_key, signature = _sign(seed, message)
    assert ed25519.verify(public_key, message, signature)

    bad_signature = flip_bit(signature, bit)
    want = _cryptography_verify(public_key, message, bad_signature)
    assert ed25519.verify(public_key, message, bad_signature) == want

    bad_key = flip_bit(public_key, bit)
    want = _cryptography_verify(bad_key, message, signature)
    assert ed25519.verify(bad_key, message, signature) == want

    bad_message = flip_bit(message + b"\0", bit)
    assert not ed25519.verify(public_key, bad_message, signature)


@settings(max_examples=40, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32),
    signature=st.binary(min_size=64, max_size=64),
)
def test_verify_agrees_with_cryptography_on_random_bytes(
    key: bytes, signature: bytes
) -> None:
    want = _cryptography_verify(key, b"message", signature)
    assert ed25519.verify(key, b"message", signature) == want


def _sign(seed: bytes, message: bytes) -> tuple[bytes, bytes]:
    crypto = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    private_key = crypto.Ed25519PrivateKey.from_private_bytes(seed)
    public_key = private_key.public_key().public_bytes_raw()
    return public_key, private_key.sign(message)


def _cryptography_verify(key: bytes, message: bytes, signature: bytes) -> bool:
    crypto = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    exceptions = pytest.importorskip("cryptography.exceptions")
    try:
        crypto.Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except exceptions.InvalidSignature:
        return False
    return True
