"""Signature checks for incoming webhooks and for the signed pause/resume API.

One function per auth kind; `verify_webhook` picks one by the job's
`auth_kind`.  Everything here is pure: the caller passes the raw body and the
request headers and turns a `SignatureError` into a 401 or 403.

Every comparison runs in constant time, and no error message carries the
secret or the expected signature, so messages may be logged as they are.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Mapping

from karajo import ed25519 as _pure_ed25519
from karajo.errors import SignatureError

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:
    # A bare Python, such as the zipapp without extras: karajo.ed25519 verifies.
    _USE_CRYPTOGRAPHY = False
else:
    _USE_CRYPTOGRAPHY = True

AUTH_KINDS = ("hmac-sha256", "github", "sourcehut", "gitlab", "gitea")
DEFAULT_AUTH_KIND = "hmac-sha256"
DEFAULT_HEADER_SIGN = "X-Karajo-Sign"
SOURCEHUT_PUBLIC_KEY = "uX7KWyyDNMaBma4aVbJ/cbUQpdjqczuCyK/HxzV/u+4="

GITHUB_HEADER_SHA256 = "X-Hub-Signature-256"
GITHUB_HEADER_SHA1 = "X-Hub-Signature"
SOURCEHUT_HEADER_SIGN = "X-Payload-Signature"
SOURCEHUT_HEADER_NONCE = "X-Payload-Nonce"
GITLAB_HEADER_TOKEN = "X-Gitlab-Token"
# Forgejo sends both headers with the same value; older Gitea only the first.
GITEA_HEADERS_SIGN = ("X-Gitea-Signature", "X-Forgejo-Signature")


def normalize_auth_kind(value: str) -> str:
    """Return the canonical auth kind; empty or unknown gives "hmac-sha256"."""
    kind = value.strip().lower()
    return kind if kind in AUTH_KINDS else DEFAULT_AUTH_KIND


def is_known_auth_kind(value: str) -> bool:
    """Tell whether `value` names an auth kind, ignoring case and spaces."""
    return value.strip().lower() in AUTH_KINDS


def sign_hmac_sha256(payload: bytes, secret: str | bytes) -> str:
    """Return the lower-case hex HMAC-SHA256 of `payload` keyed by `secret`."""
    return hmac.new(_secret_bytes(secret), payload, hashlib.sha256).hexdigest()


def verify_hmac_sha256(payload: bytes, secret: str, signature: str | None) -> None:
    """Check a hex HMAC-SHA256 `signature` of `payload`.

    Raises:
        SignatureError: the signature is missing, not hex or does not match.
    """
    if not signature:
        raise SignatureError("missing signature")
    if not secret:
        raise SignatureError("no secret configured")
    _check_hmac("sha256", payload, secret, signature, "signature")


def verify_api_signature(payload: bytes, secret: str, signature: str | None) -> None:
    """Check the X-Karajo-Sign of a pause/resume/cancel call.

    `payload` is the raw form body or the raw query string, exactly as
    received, and `secret` the global one.

    Raises:
        SignatureError: the signature is missing, not hex or does not match.
    """
    verify_hmac_sha256(payload, secret, signature)


def verify_webhook(
    kind: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    header_sign: str = DEFAULT_HEADER_SIGN,
    sourcehut_key: str = SOURCEHUT_PUBLIC_KEY,
) -> None:
    """Check an incoming webhook request by the job's auth kind.

    `kind` goes through `normalize_auth_kind`, so an unknown kind checks
    hmac-sha256, as in the original.  Header names match in any case.

    Raises:
        SignatureError: the request fails the check; the message says why.
        ValueError: `sourcehut_key` is not a valid Ed25519 public key, which
            `decode_ed25519_public_key` should have caught at start.
    """
    kind = normalize_auth_kind(kind)
    if kind == "sourcehut":
        _verify_sourcehut(body, headers, sourcehut_key)
        return
    # An empty key makes an HMAC anyone can compute, and an empty GitLab
    # token would match an empty header.
    if not secret:
        raise SignatureError("no secret configured")
    if kind == "github":
        _verify_github(body, headers, secret)
    elif kind == "gitlab":
        _verify_gitlab(headers, secret)
    elif kind == "gitea":
        _verify_gitea(body, headers, secret)
    else:
        name = header_sign or DEFAULT_HEADER_SIGN
        signature = _require_header(headers, name)
        _check_hmac("sha256", body, secret, signature, f"signature header {name}")


def decode_ed25519_public_key(b64: str) -> bytes:
    """Decode a standard base64 Ed25519 public key into its 32 bytes.

    Raises:
        ValueError: not base64, not 32 bytes, or not a point on the curve.
    """
    try:
        key = base64.b64decode(b64.strip(), validate=True)
    except ValueError:
        raise ValueError(f"ed25519 public key {b64!r} is not base64") from None
    if len(key) != _pure_ed25519.PUBLIC_KEY_SIZE:
        raise ValueError(
            f"ed25519 public key {b64!r} has {len(key)} bytes, want "
            f"{_pure_ed25519.PUBLIC_KEY_SIZE}"
        )
    if not _pure_ed25519.is_valid_public_key(key):
        raise ValueError(f"ed25519 public key {b64!r} is not a point on the curve")
    return key


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Tell whether `signature` is a valid Ed25519 signature of `message`.

    Uses `cryptography` when it is installed, else the pure-Python verifier;
    both accept and refuse the same signatures.
    """
    size_ok = (
        len(public_key) == _pure_ed25519.PUBLIC_KEY_SIZE
        and len(signature) == _pure_ed25519.SIGNATURE_SIZE
    )
    if not size_ok:
        return False
    if not _USE_CRYPTOGRAPHY:
        return _pure_ed25519.verify(public_key, message, signature)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _verify_github(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    # The SHA-1 header is read only when the SHA-256 one is absent; a bad
    # SHA-256 signature never falls back to the weaker one.
    signature = _get_header(headers, GITHUB_HEADER_SHA256)
    if signature:
        hex_value = _strip_algorithm(signature, "sha256", GITHUB_HEADER_SHA256)
        label = f"signature header {GITHUB_HEADER_SHA256}"
        _check_hmac("sha256", body, secret, hex_value, label)
        return
    signature = _get_header(headers, GITHUB_HEADER_SHA1)
    if not signature:
        raise SignatureError(f"missing signature header {GITHUB_HEADER_SHA256}")
    hex_value = _strip_algorithm(signature, "sha1", GITHUB_HEADER_SHA1)
    label = f"signature header {GITHUB_HEADER_SHA1}"
    _check_hmac("sha1", body, secret, hex_value, label)


def _strip_algorithm(value: str, algorithm: str, header: str) -> str:
    # GitHub writes "sha256=<hex>"; a bare hex is accepted too because the
    # original only trims the prefix, and other senders copy that.
    prefix, sep, hex_value = value.partition("=")
    if not sep:
        return value
    if prefix.lower() != algorithm:
        raise SignatureError(
            f"malformed signature header {header}: want {algorithm}=<hex>"
        )
    return hex_value


def _verify_sourcehut(body: bytes, headers: Mapping[str, str], key_b64: str) -> None:
    public_key = _public_key(key_b64)
    encoded = _require_header(headers, SOURCEHUT_HEADER_SIGN)
    try:
        signature = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise SignatureError(
            f"malformed signature header {SOURCEHUT_HEADER_SIGN}: not base64"
        ) from None
    if len(signature) != _pure_ed25519.SIGNATURE_SIZE:
        raise SignatureError(
            f"malformed signature header {SOURCEHUT_HEADER_SIGN}: want "
            f"{_pure_ed25519.SIGNATURE_SIZE} bytes, got {len(signature)}"
        )

    # As in the original, a missing nonce counts as empty: SourceHut always
    # sends one, and the signature covers it either way.
    nonce = _get_header(headers, SOURCEHUT_HEADER_NONCE) or ""
    if not ed25519_verify(public_key, body + _header_bytes(nonce), signature):
        raise SignatureError(f"signature header {SOURCEHUT_HEADER_SIGN} does not match")


@functools.lru_cache(maxsize=8)
def _public_key(b64: str) -> bytes:
    # Decoding validates the point with a modular exponentiation; the key
    # rarely changes, so do it once per key rather than per request.
    return decode_ed25519_public_key(b64)


def _verify_gitlab(headers: Mapping[str, str], secret: str) -> None:
    token = _require_header(headers, GITLAB_HEADER_TOKEN)
    # Comparing digests keeps the time independent of the token's length too.
    got = hashlib.sha256(_header_bytes(token)).digest()
    want = hashlib.sha256(_secret_bytes(secret)).digest()
    if not hmac.compare_digest(got, want):
        raise SignatureError(f"token header {GITLAB_HEADER_TOKEN} does not match")


def _verify_gitea(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    for name in GITEA_HEADERS_SIGN:
        signature = _get_header(headers, name)
        if signature:
            _check_hmac("sha256", body, secret, signature, f"signature header {name}")
            return
    raise SignatureError(f"missing signature header {GITEA_HEADERS_SIGN[0]}")


def _check_hmac(
    algorithm: str, payload: bytes, secret: str, hex_value: str, label: str
) -> None:
    # Hex is decoded before comparing, so upper-case digits match and a
    # malformed value fails as such rather than as a mismatch.
    want = hmac.new(_secret_bytes(secret), payload, algorithm).digest()
    try:
        got = binascii.a2b_hex(hex_value)
    except ValueError:
        raise SignatureError(f"malformed {label}: not hex") from None
    if len(got) != len(want):
        raise SignatureError(
            f"malformed {label}: want {2 * len(want)} hex digits, got {len(hex_value)}"
        )
    if not hmac.compare_digest(got, want):
        raise SignatureError(f"{label} does not match")


def _require_header(headers: Mapping[str, str], name: str) -> str:
    value = _get_header(headers, name)
    if not value:
        raise SignatureError(f"missing signature header {name}")
    return value


def _get_header(headers: Mapping[str, str], name: str) -> str | None:
    # Try the exact name first: case-insensitive mappings (werkzeug's
    # Headers) answer it directly, and plain dicts often use the canonical
    # spelling.
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _header_bytes(value: str) -> bytes:
    # Quart, like every ASGI stack, decodes raw header bytes as latin-1, so
    # encoding back gives the bytes that were sent.  A str beyond latin-1
    # cannot come from there; UTF-8 keeps it an ordinary mismatch.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")
