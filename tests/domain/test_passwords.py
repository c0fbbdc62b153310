"""Password policy (NIST SP 800-63B) and argon2id hashing (checklist U1-U5)."""

from __future__ import annotations

import pytest

from authserver.domain.errors import PasswordPolicyError
from authserver.domain.passwords import (
    PasswordHasher,
    _common_passwords,
    check_password_policy,
    is_common_password,
)
from authserver.settings import ARGON2_MIN_MEMORY_KIB, ARGON2_MIN_PARALLELISM, ARGON2_MIN_TIME_COST

RULES = {"min_length": 12, "max_length": 1024}
GOOD = "correct horse battery staple"


def hasher(time_cost: int = ARGON2_MIN_TIME_COST) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_kib=ARGON2_MIN_MEMORY_KIB, parallelism=ARGON2_MIN_PARALLELISM
    )


def refused(password: str, **extra: object) -> str:
    with pytest.raises(PasswordPolicyError) as info:
        check_password_policy(password, **(RULES | extra))  # type: ignore[arg-type]
    assert info.value.field == "password"
    return info.value.message


def test_U1_minimum_twelve_characters_with_reason() -> None:
    assert "at least 12" in refused("Tr0ub4dor&3")  # 11 characters
    check_password_policy("Tr0ub4dor&3x", **RULES)


def test_U2_long_passwords_accepted_up_to_bound() -> None:
    check_password_policy("x7!Kq" * 13, **RULES)  # 65 characters
    check_password_policy(("abcdefghij" * 103)[:1024], **RULES)
    assert "at most 1024" in refused("abcdefghij" * 103)  # 1030 characters


def test_U3_no_composition_rules_unicode_and_spaces() -> None:
    check_password_policy("all lower case words here", **RULES)
    check_password_policy("пароль для входа в систему", **RULES)
    check_password_policy("🔐 emoji phrase works 🔑", **RULES)


def test_U3_nfkc_applied_before_hashing() -> None:
    h = hasher()
    encoded = h.hash_sync("ｆｕｌｌｗｉｄｔｈ ｐａｓｓｗｏｒｄ")  # full-width forms
    assert h.verify_sync(encoded, "fullwidth password")


def test_U4_common_passwords_refused() -> None:
    assert len(_common_passwords(1)) >= 100_000
    assert is_common_password("password1234")
    assert "too common" in refused("Password1234")  # case-insensitive match
    assert "too common" in refused("qwertyuiopasdfghjkl")


def test_U4_context_words_refused() -> None:
    msg = refused("alice-in-wonderland", context=("alice", "alice@example.com"))
    assert "username" in msg
    refused("my authserver login", context=("authserver",))


def test_repetitive_and_control_characters_refused() -> None:
    assert "repetitive" in refused("aaaaaaaaaaaaaaaa")
    assert "control" in refused("good password\x00here")


def test_U5_argon2id_at_or_above_rfc9106_second_option() -> None:
    encoded = hasher().hash_sync(GOOD)
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert hasher().hash_sync(GOOD) != encoded  # unique salt


def test_U5_rehash_needed_when_parameters_change() -> None:
    old = hasher(3).hash_sync(GOOD)
    assert hasher(4).needs_rehash(old)
    assert not hasher(3).needs_rehash(old)


def test_verify_rejects_wrong_password_and_garbage_hash() -> None:
    h = hasher()
    encoded = h.hash_sync(GOOD)
    assert h.verify_sync(encoded, GOOD)
    assert not h.verify_sync(encoded, GOOD + "!")
    assert not h.verify_sync("not-a-hash", GOOD)
