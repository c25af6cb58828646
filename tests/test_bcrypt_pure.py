"""karajo.bcrypt_pure against the compiled bcrypt, and sign-in without it."""

from __future__ import annotations

import bcrypt
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from karajo import bcrypt_pure, session

# The lowest cost keeps each pure check near 0.1 s.
COST = 4

PASSWORDS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"correct horse battery staple", id="ascii"),
    pytest.param("pässwörd ✓ 密码".encode(), id="utf8"),
    pytest.param(b"\xff\xfe\x80\x81latin", id="high-bytes"),
    pytest.param(b"a\x00b", id="nul-inside"),
    pytest.param(b"x" * 71, id="71-bytes"),
    pytest.param(b"y" * 72, id="72-bytes"),
    pytest.param(b"z" * 73, id="73-bytes"),
    pytest.param(("a" * 71 + "é").encode(), id="utf8-across-72"),
    pytest.param(bytes(range(1, 256)) * 2, id="510-bytes"),
]


def compiled_checkpw(password: bytes, hashed: bytes) -> bool:
    # bcrypt 5 refuses passwords over 72 bytes; Go and karajo cut them.
    return bcrypt.checkpw(password[:72], hashed)


def compiled_hash(password: bytes, prefix: bytes = b"2b", cost: int = COST) -> bytes:
    return bcrypt.hashpw(password[:72], bcrypt.gensalt(cost, prefix))


@pytest.mark.parametrize("password", PASSWORDS)
def test_checkpw_agrees_with_compiled_bcrypt(password: bytes) -> None:
    hashed = compiled_hash(password)
    wrong = password[:-1] + bytes([password[-1] ^ 1]) if password else b"x"

    assert bcrypt_pure.checkpw(password, hashed) is True
    assert bcrypt_pure.checkpw(wrong, hashed) is compiled_checkpw(wrong, hashed)


@pytest.mark.parametrize("prefix", ["2a", "2b", "2y"])
def test_checkpw_accepts_every_variant(prefix: str) -> None:
    password = "vär 2".encode()
    hashed = "$" + prefix + compiled_hash(password).decode()[3:]

    assert compiled_checkpw(password, hashed.encode())
    assert bcrypt_pure.checkpw(password, hashed)
    assert not bcrypt_pure.checkpw(b"var 2", hashed)


@settings(max_examples=10, deadline=None)
@given(password=st.binary(max_size=90), other=st.binary(max_size=90))
def test_checkpw_agrees_on_random_passwords(password: bytes, other: bytes) -> None:
    hashed = compiled_hash(password)

    assert bcrypt_pure.checkpw(password, hashed)
    assert bcrypt_pure.checkpw(other, hashed) is compiled_checkpw(other, hashed)


def test_checkpw_ignores_bytes_past_the_72nd() -> None:
    hashed = compiled_hash(b"k" * 72)

    assert bcrypt_pure.checkpw(b"k" * 72 + b"anything after", hashed)


def test_checkpw_runs_every_round_of_a_higher_cost() -> None:
    hashed = compiled_hash(b"cost five", cost=5)

    assert bcrypt_pure.checkpw(b"cost five", hashed)
    assert not bcrypt_pure.checkpw(b"cost 5", hashed)


@pytest.mark.parametrize(
    "hashed",
    [
        pytest.param("", id="empty"),
        pytest.param("plain text", id="not-a-hash"),
        pytest.param("$2x$04$" + "a" * 53, id="2x-variant"),
        pytest.param("$2b$03$" + "a" * 53, id="cost-too-low"),
        pytest.param("$2b$32$" + "a" * 53, id="cost-too-high"),
        pytest.param("$2b$04$" + "a" * 52, id="short"),
        pytest.param("$2b$04$" + "a" * 52 + "!", id="outside-alphabet"),
    ],
)
def test_parse_hash_refuses_malformed_hashes(hashed: str) -> None:
    with pytest.raises(ValueError):
        bcrypt_pure.checkpw(b"password", hashed)


def test_pi_words_start_and_end_as_blowfish_tables() -> None:
    words = bcrypt_pure._pi_words()

    # P[0], P[17], S0[0] and S3[255] of Blowfish's published tables.
    assert (words[0], words[17], words[18], words[-1]) == (
        0x243F6A88,
        0x8979FB1B,
        0xD1310BA6,
        0x3AC372E6,
    )


@pytest.fixture
def without_compiled_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-in as on a Python without the bcrypt package."""
    monkeypatch.setattr(session, "_compiled_bcrypt", lambda: None)


async def test_check_password_uses_child_process_without_bcrypt(
    without_compiled_bcrypt: None,
) -> None:
    hashed = compiled_hash("pässwörd".encode()).decode()

    assert await session.check_password("pässwörd", hashed)
    assert not await session.check_password("passwort", hashed)


async def test_check_password_refuses_malformed_hash_without_bcrypt(
    without_compiled_bcrypt: None,
) -> None:
    assert not await session.check_password("password", "$2x$04$" + "a" * 53)


async def test_check_password_leaves_event_loop_running(
    without_compiled_bcrypt: None,
) -> None:
    # Cost 6 keeps the pure check busy for a third of a second or more.
    hashed = compiled_hash(b"slow", cost=6).decode()
    ticks = 0
    done = trio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            await trio.sleep(0.01)
            ticks += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tick)
        assert await session.check_password("slow", hashed)
        done.set()
    assert ticks >= 5


async def test_check_password_cuts_long_passwords_like_go() -> None:
    hashed = compiled_hash(b"p" * 72).decode()

    assert await session.check_password("p" * 80, hashed)
