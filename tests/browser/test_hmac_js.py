"""karajo/www/assets/hmac-sha256.js: known vectors and Python's hmac, in Chromium."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import REPO, launch_chromium

pytestmark = pytest.mark.slow

SCRIPT = REPO / "karajo" / "www" / "assets" / "hmac-sha256.js"

# RFC 4231 section 4: (key, data, HMAC-SHA-256).  Test case 5 checks a
# truncated output and is left out.
RFC_4231 = [
    (
        "0b" * 20,
        b"Hi There".hex(),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe".hex(),
        b"what do ya want for nothing?".hex(),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        "aa" * 20,
        "dd" * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        bytes(range(1, 26)).hex(),
        "cd" * 50,
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (
        "aa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First".hex(),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        "aa" * 131,
        b"This is a test using a larger than block-size key and a larger than "
        b"block-size data. The key needs to be hashed before being used by "
        b"the HMAC algorithm.".hex(),
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


@pytest.fixture(scope="module")
def page(playwright) -> Iterator[Page]:
    browser = launch_chromium(playwright)
    page = browser.new_page()
    page.set_content("<!DOCTYPE html><title>hmac</title>")
    page.add_script_tag(path=str(SCRIPT))
    yield page
    browser.close()


def js_hmac_hex(page: Page, key_hex: str, data_hex: str) -> str:
    return page.evaluate(
        """([key, data]) => {
            const bytes = (hex) => Uint8Array.from(
                hex.match(/../g) || [], (pair) => parseInt(pair, 16));
            return KarajoHmac.toHex(KarajoHmac.hmacSha256(bytes(key), bytes(data)));
        }""",
        [key_hex, data_hex],
    )


@pytest.mark.parametrize(("key", "data", "expected"), RFC_4231)
def test_hmac_matches_rfc_4231(page, key, data, expected):
    assert js_hmac_hex(page, key, data) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ],
)
def test_sha256_matches_fips_examples(page, message, expected):
    digest = page.evaluate(
        "(hex) => KarajoHmac.toHex(KarajoHmac.sha256("
        "Uint8Array.from(hex.match(/../g) || [], (p) => parseInt(p, 16))))",
        message.hex(),
    )

    assert digest == expected


def test_hmac_matches_python_across_block_boundaries(page):
    generator = random.Random(4231)
    # Lengths around SHA-256's 64-byte block and its 55/56-byte padding edge.
    lengths = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000]
    for key_length in (0, 1, 32, 63, 64, 65, 200):
        for data_length in lengths:
            key = generator.randbytes(key_length)
            data = generator.randbytes(data_length)
            expected = hmac.new(key, data, hashlib.sha256).hexdigest()
            assert js_hmac_hex(page, key.hex(), data.hex()) == expected, (
                key_length,
                data_length,
            )


def test_text_signing_is_utf8_like_the_server(page):
    secret, message = "sécret ✓", "_karajo_epoch=1700000000&id=déploy"

    signed = page.evaluate(
        "([s, m]) => KarajoHmac.hmacSha256Hex(s, m)", [secret, message]
    )

    expected = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert signed == expected
