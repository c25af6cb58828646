from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karajo import webhook_auth
from karajo.errors import SignatureError
from karajo.webhook_auth import (
    AUTH_KINDS,
    SOURCEHUT_PUBLIC_KEY,
    decode_ed25519_public_key,
    ed25519_verify,
    is_known_auth_kind,
    normalize_auth_kind,
    sign_hmac_sha256,
    verify_api_signature,
    verify_hmac_sha256,
    verify_webhook,
)

crypto = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")

BODY = b'{"ref": "refs/heads/main", "after": "0f3c"}'
SECRET = "s3cret-\u00e9t\u00e9"
OTHER_SECRET = "not-the-secret"
NONCE = "1717171717"

# A fixed key pair stands in for SourceHut's, whose private half is secret.
SOURCEHUT_KEY = crypto.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SOURCEHUT_PUBLIC = base64.b64encode(
    SOURCEHUT_KEY.public_key().public_bytes_raw()
).decode()


def hmac_hex(algorithm: str, body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, algorithm).hexdigest()


def sourcehut_sign(body: bytes, nonce: str) -> str:
    return base64.b64encode(SOURCEHUT_KEY.sign(body + nonce.encode())).decode()


SHA256 = hmac_hex("sha256", BODY, SECRET)
SHA1 = hmac_hex("sha1", BODY, SECRET)
WRONG_SHA256 = hmac_hex("sha256", BODY, OTHER_SECRET)
WRONG_SHA1 = hmac_hex("sha1", BODY, OTHER_SECRET)
SOURCEHUT_SIGNATURE = sourcehut_sign(BODY, NONCE)
# GitLab sends the token as raw UTF-8, which ASGI servers decode as latin-1.
GITLAB_TOKEN = SECRET.encode().decode("latin-1")

VALID_REQUESTS = [
    pytest.param("hmac-sha256", {"X-Karajo-Sign": SHA256}, id="hmac"),
    pytest.param("hmac-sha256", {"x-karajo-sign": SHA256}, id="hmac-lower-name"),
    pytest.param("hmac-sha256", {"X-Karajo-Sign": SHA256.upper()}, id="hmac-upper-hex"),
    pytest.param("", {"X-Karajo-Sign": SHA256}, id="empty-kind-is-hmac"),
    pytest.param("bogus", {"X-Karajo-Sign": SHA256}, id="unknown-kind-is-hmac"),
    pytest.param("github", {"X-Hub-Signature-256": f"sha256={SHA256}"}, id="github"),
    pytest.param(
        "GitHub",
        {"X-HUB-SIGNATURE-256": f"sha256={SHA256.upper()}"},
        id="github-upper-everything",
    ),
    pytest.param("github", {"X-Hub-Signature-256": SHA256}, id="github-bare-hex"),
    pytest.param("github", {"X-Hub-Signature": f"sha1={SHA1}"}, id="github-sha1"),
    pytest.param("github", {"x-hub-signature": SHA1.upper()}, id="github-sha1-bare"),
    pytest.param(
        "sourcehut",
        {"X-Payload-Signature": SOURCEHUT_SIGNATURE, "X-Payload-Nonce": NONCE},
        id="sourcehut",
    ),
    pytest.param(
        "sourcehut",
        {"x-payload-signature": SOURCEHUT_SIGNATURE, "x-payload-nonce": NONCE},
        id="sourcehut-lower-names",
    ),
    pytest.param(
        "sourcehut",
        {"X-Payload-Signature": sourcehut_sign(BODY, "")},
        id="sourcehut-no-nonce",
    ),
    pytest.param("gitlab", {"X-Gitlab-Token": GITLAB_TOKEN}, id="gitlab"),
    pytest.param("gitlab", {"x-gitlab-token": GITLAB_TOKEN}, id="gitlab-lower-name"),
    pytest.param("gitea", {"X-Gitea-Signature": SHA256}, id="gitea"),
    pytest.param("gitea", {"X-Forgejo-Signature": SHA256}, id="forgejo"),
    pytest.param("gitea", {"x-gitea-signature": SHA256.upper()}, id="gitea-upper"),
]

REFUSED_REQUESTS = [
    pytest.param(
        "hmac-sha256",
        {"X-Karajo-Sign": WRONG_SHA256},
        "does not match",
        id="hmac-wrong",
    ),
    pytest.param(
        "hmac-sha256", {}, "missing signature header X-Karajo-Sign", id="hmac-missing"
    ),
    pytest.param("hmac-sha256", {"X-Karajo-Sign": ""}, "missing", id="hmac-empty"),
    pytest.param(
        "hmac-sha256", {"X-Karajo-Sign": "zz" * 32}, "not hex", id="hmac-bad-hex"
    ),
    pytest.param(
        "hmac-sha256", {"X-Karajo-Sign": SHA256[:10]}, "want 64 hex", id="hmac-short"
    ),
    pytest.param(
        "hmac-sha256",
        {"X-Karajo-Sign": f"sha256={SHA256}"},
        "not hex",
        id="hmac-prefixed",
    ),
    pytest.param(
        "github",
        {"X-Hub-Signature-256": f"sha256={WRONG_SHA256}"},
        "does not match",
        id="github-wrong",
    ),
    pytest.param(
        "github",
        {"X-Hub-Signature": f"sha1={WRONG_SHA1}"},
        "X-Hub-Signature does not match",
        id="github-sha1-wrong",
    ),
    pytest.param(
        "github",
        {"X-Hub-Signature-256": f"sha256={WRONG_SHA256}", "X-Hub-Signature": SHA1},
        "X-Hub-Signature-256 does not match",
        id="github-no-downgrade",
    ),
    pytest.param("github", {}, "missing signature header X-Hub", id="github-missing"),
    pytest.param(
        "github",
        {"X-Hub-Signature-256": f"sha1={SHA256}"},
        "want sha256=<hex>",
        id="github-wrong-prefix",
    ),
    pytest.param(
        "github",
        {"X-Hub-Signature-256": "sha256=" + "g" * 64},
        "not hex",
        id="github-bad-hex",
    ),
    pytest.param(
        "github",
        {"X-Hub-Signature-256": f"sha256={SHA1}"},
        "want 64 hex",
        id="github-sha1-in-sha256",
    ),
    pytest.param(
        "sourcehut",
        {"X-Payload-Signature": SOURCEHUT_SIGNATURE, "X-Payload-Nonce": "other"},
        "does not match",
        id="sourcehut-wrong-nonce",
    ),
    pytest.param(
        "sourcehut",
        {"X-Payload-Signature": SOURCEHUT_SIGNATURE},
        "does not match",
        id="sourcehut-missing-nonce",
    ),
    pytest.param(
        "sourcehut",
        {"X-Payload-Nonce": NONCE},
        "missing signature header X-Payload-Signature",
        id="sourcehut-missing",
    ),
    pytest.param(
        "sourcehut",
        {"X-Payload-Signature": "not base64!", "X-Payload-Nonce": NONCE},
        "not base64",
        id="sourcehut-bad-base64",
    ),
    pytest.param(
        "sourcehut",
        {"X-Payload-Signature": SOURCEHUT_SIGNATURE[:-4], "X-Payload-Nonce": NONCE},
        "want 64 bytes",
        id="sourcehut-short",
    ),
    pytest.param(
        "sourcehut",
        {"X-Payload-Signature": SHA256, "X-Payload-Nonce": NONCE},
        "want 64 bytes",
        id="sourcehut-hex-not-base64",
    ),
    pytest.param(
        "gitlab", {"X-Gitlab-Token": OTHER_SECRET}, "does not match", id="gitlab-wrong"
    ),
    pytest.param(
        "gitlab",
        {"X-Gitlab-Token": SECRET},
        "does not match",
        id="gitlab-token-decoded-as-utf8",
    ),
    pytest.param(
        "gitlab",
        {"X-Gitlab-Token": GITLAB_TOKEN + " "},
        "does not match",
        id="gitlab-longer",
    ),
    pytest.param(
        "gitlab", {}, "missing signature header X-Gitlab-Token", id="gitlab-missing"
    ),
    pytest.param(
        "gitea", {"X-Gitea-Signature": WRONG_SHA256}, "does not match", id="gitea-wrong"
    ),
    pytest.param("gitea", {}, "missing signature header X-Gitea", id="gitea-missing"),
    pytest.param(
        "gitea", {"X-Forgejo-Signature": "xyz"}, "not hex", id="forgejo-bad-hex"
    ),
]


def verify(kind: str, headers: Mapping[str, str], **kwargs: str) -> None:
    kwargs.setdefault("secret", SECRET)
    kwargs.setdefault("sourcehut_key", SOURCEHUT_PUBLIC)
    verify_webhook(kind, body=BODY, headers=headers, **kwargs)


@pytest.mark.parametrize(("kind", "headers"), VALID_REQUESTS)
def test_verify_webhook_accepts_valid_request(
    kind: str, headers: dict[str, str]
) -> None:
    verify(kind, headers)


@pytest.mark.parametrize(("kind", "headers", "reason"), REFUSED_REQUESTS)
def test_verify_webhook_refuses_bad_request(
    kind: str, headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason) as caught:
        verify(kind, headers)
    message = str(caught.value)
    assert message[0].islower() and not message.endswith(".")
    for secret_value in (SECRET, GITLAB_TOKEN, SHA256, SHA1, SOURCEHUT_SIGNATURE):
        assert secret_value not in message


@pytest.mark.parametrize("kind", ["hmac-sha256", "github", "gitlab", "gitea"])
def test_verify_webhook_refuses_when_secret_empty(kind: str) -> None:
    headers = {
        "X-Karajo-Sign": hmac_hex("sha256", BODY, ""),
        "X-Hub-Signature-256": hmac_hex("sha256", BODY, ""),
        "X-Gitea-Signature": hmac_hex("sha256", BODY, ""),
        "X-Gitlab-Token": "",
    }
    with pytest.raises(SignatureError, match="no secret configured"):
        verify(kind, headers, secret="")


def test_verify_webhook_reads_custom_header_sign() -> None:
    verify("hmac-sha256", {"x-hook-sig": SHA256}, header_sign="X-Hook-Sig")
    with pytest.raises(SignatureError, match="missing signature header X-Hook-Sig"):
        verify("hmac-sha256", {"X-Karajo-Sign": SHA256}, header_sign="X-Hook-Sig")


def test_verify_webhook_empty_header_sign_means_default() -> None:
    verify("hmac-sha256", {"X-Karajo-Sign": SHA256}, header_sign="")


def test_verify_webhook_sourcehut_default_key_refuses_other_signer() -> None:
    headers = {"X-Payload-Signature": SOURCEHUT_SIGNATURE, "X-Payload-Nonce": NONCE}
    with pytest.raises(SignatureError, match="does not match"):
        verify_webhook("sourcehut", body=BODY, headers=headers, secret=SECRET)


def test_verify_webhook_sourcehut_bad_key_raises_value_error() -> None:
    headers = {"X-Payload-Signature": SOURCEHUT_SIGNATURE, "X-Payload-Nonce": NONCE}
    with pytest.raises(ValueError, match="public key"):
        verify("sourcehut", headers, sourcehut_key="c2hvcnQ=")


def test_default_sourcehut_key_decodes_to_32_bytes() -> None:
    assert len(decode_ed25519_public_key(SOURCEHUT_PUBLIC_KEY)) == 32


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("not base64!", "not base64", id="bad-base64"),
        pytest.param(SOURCEHUT_PUBLIC_KEY[:-2], "not base64", id="bad-padding"),
        pytest.param(base64.b64encode(bytes(31)).decode(), "has 31 bytes", id="short"),
        pytest.param(
            # y = 2 has no x on the curve.
            base64.b64encode((2).to_bytes(32, "little")).decode(),
            "not a point",
            id="off-curve",
        ),
    ],
)
def test_decode_ed25519_public_key_refuses_bad_key(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_ed25519_public_key(value)


@pytest.mark.parametrize(
    ("value", "kind", "known"),
    [
        ("hmac-sha256", "hmac-sha256", True),
        ("GitHub", "github", True),
        (" sourcehut ", "sourcehut", True),
        ("GITLAB", "gitlab", True),
        ("gitea", "gitea", True),
        ("", "hmac-sha256", False),
        ("forgejo", "hmac-sha256", False),
        ("sha256", "hmac-sha256", False),
    ],
)
def test_normalize_auth_kind(value: str, kind: str, known: bool) -> None:
    assert normalize_auth_kind(value) == kind
    assert is_known_auth_kind(value) is known


def test_sign_hmac_sha256_matches_rfc4231_case_2() -> None:
    want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign_hmac_sha256(b"what do ya want for nothing?", "Jefe") == want
    assert sign_hmac_sha256(b"what do ya want for nothing?", b"Jefe") == want


def test_verify_api_signature_checks_raw_payload() -> None:
    payload = b"_karajo_epoch=1700000000&id=job-1"
    signature = sign_hmac_sha256(payload, SECRET)
    verify_api_signature(payload, SECRET, signature)
    verify_api_signature(payload, SECRET, signature.upper())
    with pytest.raises(SignatureError, match="signature does not match"):
        verify_api_signature(payload + b"0", SECRET, signature)


@pytest.mark.parametrize(
    ("signature", "secret", "reason"),
    [
        (None, SECRET, "missing signature"),
        ("", SECRET, "missing signature"),
        ("\u00e9\u00e9", SECRET, "not hex"),
        ("abc", SECRET, "not hex"),
        (SHA256, "", "no secret configured"),
    ],
)
def test_verify_hmac_sha256_refuses(
    signature: str | None, secret: str, reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify_hmac_sha256(BODY, secret, signature)


@pytest.mark.parametrize(
    "use_cryptography", [True, False], ids=["cryptography", "pure"]
)
def test_ed25519_verify_both_paths(
    monkeypatch: pytest.MonkeyPatch, use_cryptography: bool
) -> None:
    monkeypatch.setattr(webhook_auth, "_USE_CRYPTOGRAPHY", use_cryptography)
    key = SOURCEHUT_KEY.public_key().public_bytes_raw()
    signature = SOURCEHUT_KEY.sign(b"payload")
    assert ed25519_verify(key, b"payload", signature)
    assert not ed25519_verify(key, b"payloae", signature)
    assert not ed25519_verify(key, b"payload", signature[:-1] + b"\1")
    assert not ed25519_verify(key[:31], b"payload", signature)
    assert not ed25519_verify(key, b"payload", signature[:63])


def test_verify_webhook_sourcehut_with_pure_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webhook_auth, "_USE_CRYPTOGRAPHY", False)
    headers = {"X-Payload-Signature": SOURCEHUT_SIGNATURE, "X-Payload-Nonce": NONCE}
    verify("sourcehut", headers)
    with pytest.raises(SignatureError, match="does not match"):
        verify("sourcehut", headers | {"X-Payload-Nonce": "0"})


HEADER_NAMES = st.sampled_from(
    [
        "X-Karajo-Sign",
        "x-hub-signature-256",
        "X-Hub-Signature",
        "X-Payload-Signature",
        "x-payload-nonce",
        "X-Gitlab-Token",
        "X-Gitea-Signature",
        "X-Forgejo-Signature",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(),
    st.binary().map(lambda data: data.hex()),
    st.binary().map(lambda data: data.hex().upper()),
    st.binary().map(lambda data: "sha256=" + data.hex()),
    st.binary().map(lambda data: "sha1=" + data.hex()),
    st.binary().map(lambda data: base64.b64encode(data).decode()),
    st.binary(min_size=64, max_size=64).map(lambda d: base64.b64encode(d).decode()),
)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(AUTH_KINDS),
    body=st.binary(),
    headers=st.dictionaries(st.one_of(HEADER_NAMES, st.text()), HEADER_VALUES),
)
def test_verify_webhook_random_input_only_raises_signature_error(
    kind: str, body: bytes, headers: dict[str, str]
) -> None:
    try:
        verify_webhook(
            kind,
            body=body,
            headers=headers,
            secret=SECRET,
            sourcehut_key=SOURCEHUT_PUBLIC,
        )
    except SignatureError:
        pass


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(), signature=st.one_of(st.none(), HEADER_VALUES))
def test_verify_api_signature_random_input_only_raises_signature_error(
    payload: bytes, signature: str | None
) -> None:
    try:
        verify_api_signature(payload, SECRET, signature)
    except SignatureError:
        pass
