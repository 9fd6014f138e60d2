"""The pure parts of staff logins: password policy and hashes, TOTP, throttle, language."""

from __future__ import annotations

import pyotp
import pytest
from argon2 import PasswordHasher

from clinician_ui.i18n import Catalogs, choose_language
from clinician_ui.login_routes import first_stage
from fhir_api.accounts import passwords, totp
from fhir_api.accounts.sessions import CsrfRefused, Stage, check_csrf, csrf_token
from fhir_api.accounts.store import Account
from fhir_api.accounts.throttle import Failures, ThrottlePolicy
from fhir_api.roles import StaffRole

NOW = 1_764_500_000.0  # 2025-11-30, a step boundary or not: the tests do not care


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short pass", "at least 12"),
        ("alice-is-my-password", "username"),
        ("ALICE and more", "username"),
        ("abababababababab", "repeat"),
        ("x" * 257 + "yzw", "at most 256"),
        ("correct horse battery", None),
    ],
)
def test_password_policy(password, problem):
    found = passwords.password_problem(password, "alice")
    assert (found is None) if problem is None else (problem in found)


def test_password_hashes_are_argon2id_and_verify():
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct horse battery")
    assert not passwords.verify_password(stored, "correct horse batterx")
    assert not passwords.verify_password(None, "anything at all")
    assert not passwords.verify_password("not a hash", "anything at all")
    assert not passwords.needs_rehash(stored)
    weaker = PasswordHasher(time_cost=1, memory_cost=8192).hash("correct horse battery")
    assert passwords.needs_rehash(weaker)


def test_generated_passwords_pass_the_policy_and_differ():
    made = {passwords.generate_password() for _ in range(20)}
    assert len(made) == 20
    assert all(passwords.password_problem(p, "admin") is None for p in made)


def test_totp_accepts_one_step_either_side_and_never_an_older_step():
    secret = totp.new_secret()
    code = pyotp.TOTP(secret)
    step = int(NOW // 30)
    assert totp.verify_code(secret, code.at(NOW), now=NOW, last_step=None) == step
    assert totp.verify_code(secret, code.at(NOW - 30), now=NOW, last_step=None) == step - 1
    assert totp.verify_code(secret, code.at(NOW + 30), now=NOW, last_step=None) == step + 1
    assert totp.verify_code(secret, code.at(NOW - 60), now=NOW, last_step=None) is None
    assert totp.verify_code(secret, code.at(NOW), now=NOW, last_step=step) is None  # replay
    assert totp.verify_code(secret, code.at(NOW + 30), now=NOW, last_step=step) == step + 1
    assert totp.verify_code(secret, "12345", now=NOW, last_step=None) is None
    assert totp.verify_code(secret, "abcdef", now=NOW, last_step=None) is None


def test_provisioning_uri_and_qr_code():
    uri = totp.provisioning_uri(totp.new_secret(), "alice")
    assert uri.startswith("otpauth://totp/HomeVitals:alice?")
    assert "issuer=HomeVitals" in uri
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "<script" not in svg and "<?xml" not in svg


def test_recovery_codes_are_good_once_in_any_case():
    codes = totp.new_recovery_codes()
    assert len(codes) == totp.RECOVERY_CODES == len(set(codes))
    hashes = [totp.hash_recovery_code(code) for code in codes]
    left = totp.check_recovery_code(hashes, codes[2].upper().replace("-", " "))
    assert left is not None and len(left) == 9
    assert totp.check_recovery_code(left, codes[2]) is None
    assert totp.check_recovery_code(hashes, "not-a-code") is None


def test_delays_grow_and_cap():
    policy = ThrottlePolicy()
    assert [policy.delay_after(n) for n in range(1, 9)] == [0, 1, 2, 4, 8, 8, 8, 8]


def test_the_tenth_failure_locks_for_fifteen_minutes_then_counts_start_again():
    policy = ThrottlePolicy()
    failures = Failures()
    for minute in range(10):
        failures = policy.after_failure(failures, minute * 60_000, limit=10)
    assert failures.count == 10 and failures.locked(9 * 60_000)
    assert failures.locked(24 * 60_000 - 1) and not failures.locked(24 * 60_000)
    assert policy.current(failures, 24 * 60_000) == Failures()


def test_failures_spread_over_time_are_forgotten():
    policy = ThrottlePolicy()
    failures = Failures()
    for n in range(20):  # one failure every 16 minutes never locks
        failures = policy.after_failure(failures, n * 16 * 60_000, limit=10)
        assert failures.count == 1 and not failures.locked(n * 16 * 60_000)


def test_csrf_tokens_are_bound_to_the_session_and_the_key():
    key = b"k" * 32
    token = csrf_token(key, "session", "abc")
    check_csrf(key, "session", "abc", token)
    for purpose, raw, given, signing in [
        ("session", "abd", token, key),
        ("login", "abc", token, key),
        ("session", "abc", token, b"j" * 32),
        ("session", "abc", None, key),
        ("session", None, token, key),
    ]:
        with pytest.raises(CsrfRefused):
            check_csrf(signing, purpose, raw, given)


def _account(roles, *, enrolled=False, must_change=False) -> Account:
    return Account(1, "a", "", frozenset(roles), None, False, enrolled, must_change, None)


@pytest.mark.parametrize(
    ("roles", "enrolled", "must_change", "require", "stage"),
    [
        ({StaffRole.DOCTOR}, False, False, True, Stage.ENROL),
        ({StaffRole.NURSE}, True, True, True, Stage.TOTP),
        ({StaffRole.CARE_MANAGER}, False, False, False, Stage.SIGNED_IN),
        ({StaffRole.ADMIN}, False, True, True, Stage.PASSWORD),
        ({StaffRole.ADMIN}, True, False, True, Stage.TOTP),
        ({StaffRole.ADMIN, StaffRole.DOCTOR}, False, False, True, Stage.ENROL),
    ],
)
def test_where_a_right_password_leads(roles, enrolled, must_change, require, stage):
    account = _account(roles, enrolled=enrolled, must_change=must_change)
    assert first_stage(account, require) is stage


@pytest.mark.parametrize(
    ("query", "cookie", "header", "expected"),
    [
        ("en", "ja", "ja", ("en", True)),
        ("de", "en", "ja", ("en", False)),
        (None, None, "en-GB,en;q=0.9", ("en", False)),
        (None, None, "fr, en;q=0.5, ja;q=0.8", ("ja", False)),
        (None, None, "en;q=0, fr", ("ja", False)),
        (None, None, "", ("ja", False)),
    ],
)
def test_language_choice(query, cookie, header, expected):
    assert choose_language(query, cookie, {"accept-language": header}) == expected


def test_every_text_the_code_shows_is_translated():
    import re
    from pathlib import Path

    import clinician_ui
    from clinician_ui import login_routes

    root = Path(clinician_ui.__file__).parent
    texts = set()
    for template in (root / "templates").glob("*.html"):
        texts |= set(re.findall(r'_\("([^"]+)"\)', template.read_text(encoding="utf-8")))
    texts |= {login_routes.FAILED, login_routes.FAILED_CODE}
    catalogs = Catalogs()
    assert catalogs.missing("ja", sorted(texts)) == []
    assert catalogs.gettext("ja")("Sign in") == "サインイン"
