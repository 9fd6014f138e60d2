"""Staff logins over real HTTP: password, TOTP, lockout, sessions, CSRF (issue 11)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from fhir_api.accounts.throttle import ThrottlePolicy
from fhir_api.roles import StaffRole

from .conftest import serve, settings_for
from .login_helpers import (
    Clock,
    Recorder,
    Site,
    csrf_of,
    fast_password_hashing,
    post_code,
    post_login,
    sign_in,
)

FAILED_EN = "Sign-in failed. Check your username and password, or try again later."


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    clock, recorder = Clock(), Recorder()
    apps = []

    def configure(app):
        app.state.accounts.clock = clock
        app.state.sessions.clock = clock
        app.state.audit = recorder
        app.state.login_sleep = recorder.sleep
        # Every test signs in from 127.0.0.1: only the address lock's own test lowers it.
        app.state.accounts.policy = ThrottlePolicy(address_limit=100_000)
        apps.append(app)

    with ExitStack() as stack:
        stack.enter_context(fast_password_hashing())
        settings = settings_for(request.param, stack, tmp_path_factory.mktemp("login"))
        base, _ = stack.enter_context(serve(settings, configure=configure))
        yield Site(base.removesuffix("/fhir"), apps[0], clock, recorder)


@pytest.fixture
def english(site: Site):
    with site.browser(**{"Accept-Language": "en"}) as browser:
        yield browser


def test_pages_need_a_session(english):
    answer = english.get("/")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")


def test_password_then_totp_signs_in(site, english):
    staff = site.account()
    answer = post_login(english, staff.username, staff.password)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login/totp")
    assert english.get("/").headers["location"] == "/login/totp"  # half signed in: no page
    answer = post_code(english, staff.code(site.clock))
    assert (answer.status_code, answer.headers["location"]) == (303, "/")
    home = english.get("/account")
    assert home.status_code == 200
    assert f"Signed in as Dr {staff.username} (doctor)" in home.text
    login = [e for e in site.recorder.events if e.agent == f"staff:{staff.username}"]
    assert [e.subtype for e in login] == ["login"]
    assert login[0].agent_reference == "Practitioner/prac-1"


def test_each_step_issues_a_new_session_id(site, english):
    staff = site.account()
    post_login(english, staff.username, staff.password)
    half = english.cookies["hv_session"]
    post_code(english, staff.code(site.clock))
    assert english.cookies["hv_session"] != half
    with site.browser(Cookie=f"hv_session={half}") as stale:
        assert stale.get("/").headers["location"] == "/login"


def test_failures_say_the_same_whether_or_not_the_user_exists(site, english):
    staff = site.account()
    wrong = post_login(english, staff.username, "not the password at all")
    nobody = post_login(english, "nobody-" + staff.username, "not the password at all")
    assert wrong.status_code == nobody.status_code == 401
    assert FAILED_EN in wrong.text and FAILED_EN in nobody.text
    strip = lambda page: re.sub(r'value="[^"]*"', "", page.text)  # noqa: E731
    assert strip(wrong) == strip(nobody)
    assert "login-failed" in site.recorder.subtypes(f"staff:{staff.username}")
    anonymous = [e for e in site.recorder.events if e.agent == "anonymous"][-1]
    assert anonymous.extra == {"username": "nobody-" + staff.username}
    assert anonymous.address == "127.0.0.1" and anonymous.outcome == "4"
    assert "hv_session" not in english.cookies


def test_a_totp_code_is_good_once(site):
    staff = site.account()
    code = staff.code(site.clock)
    with site.browser() as first, site.browser() as second:
        post_login(first, staff.username, staff.password)
        post_login(second, staff.username, staff.password)
        assert post_code(first, code).headers["location"] == "/"
        replay = post_code(second, code)
    assert replay.status_code == 401
    assert "login-failed" in site.recorder.subtypes(f"staff:{staff.username}")


def test_a_recovery_code_works_once(site):
    staff = site.account()
    code = staff.recovery[3].upper()  # case and dashes do not matter
    with site.browser() as browser:
        post_login(browser, staff.username, staff.password)
        assert post_code(browser, code).headers["location"] == "/"
    with site.browser() as browser:
        post_login(browser, staff.username, staff.password)
        assert post_code(browser, code).status_code == 401
    assert site.accounts.recovery_codes_left(staff.id) == 9


def test_failures_are_slowed_then_the_account_locks(site, english):
    staff = site.account()
    site.recorder.delays.clear()
    for _ in range(10):
        assert post_login(english, staff.username, "wrong password 123").status_code == 401
    assert site.recorder.delays == [0, 1, 2, 4, 8, 8, 8, 8, 8, 8]
    assert "lockout" in site.recorder.subtypes(f"staff:{staff.username}")
    locked = post_login(english, staff.username, staff.password)  # the right password
    assert locked.status_code == 401 and FAILED_EN in locked.text
    site.clock.advance(15 * 60)
    assert post_login(english, staff.username, staff.password).headers["location"] == "/login/totp"


def test_an_address_trying_many_usernames_is_locked(site, english):
    staff = site.account()
    site.clock.advance(15 * 60)  # the other tests' failures are forgotten
    site.accounts.policy = ThrottlePolicy(address_limit=3)
    try:
        for name in ("ann", "bob", "cat"):
            guess = post_login(english, f"{name}-{staff.username}", "guess guess 1")
            assert guess.status_code == 401
        assert "lockout" in site.recorder.subtypes("anonymous")
        assert post_login(english, staff.username, staff.password).status_code == 401
    finally:
        site.clock.advance(15 * 60)
        site.accounts.policy = ThrottlePolicy(address_limit=100_000)
    assert post_login(english, staff.username, staff.password).status_code == 303


def test_wrong_codes_count_towards_the_lock(site, english):
    staff = site.account()
    post_login(english, staff.username, staff.password)
    for _ in range(9):
        assert post_code(english, "000000").status_code == 401
    page = english.get("/login/totp")
    last = english.post("/login/totp", data={"csrf": csrf_of(page), "code": "000000"})
    assert last.status_code == 401 and FAILED_EN in last.text  # locked: back to the login
    assert english.get("/login/totp").headers["location"] == "/login"


def test_idle_sessions_expire(site, english):
    staff = site.account()
    sign_in(site, staff, english)
    site.clock.advance(29 * 60)
    assert english.get("/account").status_code == 200
    site.clock.advance(31 * 60)
    assert english.get("/").headers["location"] == "/login"


def test_sessions_end_after_twelve_hours_however_busy(site, english):
    staff = site.account()
    sign_in(site, staff, english)
    for _ in range(35):  # a request every 20 minutes: never idle
        site.clock.advance(20 * 60)
        assert english.get("/account").status_code == 200
    site.clock.advance(20 * 60)  # 12 h 10 min after the password
    assert english.get("/").headers["location"] == "/login"


def test_forms_without_the_right_csrf_token_are_refused(site, english):
    staff = site.account()
    login_form = english.get("/login")
    data = {"username": staff.username, "password": staff.password}
    assert english.post("/login", data=data).status_code == 403
    assert english.post("/login", data={**data, "csrf": "0" * 64}).status_code == 403
    sign_in(site, staff, english)
    assert english.post("/logout").status_code == 403
    assert english.post("/logout", data={"csrf": csrf_of(login_form)}).status_code == 403
    assert english.get("/account").status_code == 200  # still signed in
    refused = english.post("/logout", data={"csrf": "x"})
    assert "did not come from this site" in refused.text


def test_logout_ends_the_session(site, english):
    staff = site.account()
    sign_in(site, staff, english)
    cookie = english.cookies["hv_session"]
    home = english.get("/account")
    answer = english.post("/logout", data={"csrf": csrf_of(home)})
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    assert "hv_session" not in english.cookies
    with site.browser(Cookie=f"hv_session={cookie}") as stale:
        assert stale.get("/").headers["location"] == "/login"
    assert site.recorder.subtypes(f"staff:{staff.username}")[-1] == "logout"


def test_a_disabled_account_is_refused_at_once(site, english):
    staff = site.account()
    sign_in(site, staff, english)
    site.accounts.disable(staff.username)
    assert english.get("/").headers["location"] == "/login"
    assert post_login(english, staff.username, staff.password).status_code == 401
    site.accounts.enable(staff.username)
    assert post_login(english, staff.username, staff.password).status_code == 303


def test_session_cookie_attributes(site, english):
    staff = site.account()
    answer = post_login(english, staff.username, staff.password)
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("hv_session="))
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert "secure" not in attributes  # plain HTTP on loopback: a Secure cookie would be lost
    assert not any(a.startswith(("max-age", "expires")) for a in attributes)


def test_first_login_enrols_totp_then_changes_the_password(site, english):
    staff = site.account(enrol=False, ready=False)  # as `admin user create` leaves it
    answer = post_login(english, staff.username, staff.password)
    assert answer.headers["location"] == "/account/totp"
    assert english.get("/").headers["location"] == "/account/totp"
    page = english.get("/account/totp")
    assert page.status_code == 200 and "<svg" in page.text
    assert "style=" not in page.text and "<script" not in page.text  # the CSP allows neither
    assert page.headers["cache-control"] == "no-store"
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page.text).group(1)
    staff.secret = secret.replace(" ", "")
    wrong = english.post("/account/totp", data={"csrf": csrf_of(page), "code": "123456"})
    assert wrong.status_code == 400
    shown = english.post(
        "/account/totp", data={"csrf": csrf_of(page), "code": staff.code(site.clock)}
    )
    assert shown.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]{19})</code></li>", shown.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'href="/account/password"' in shown.text
    assert english.get("/").headers["location"] == "/account/password"
    form = english.get("/account/password")
    new = "a much better passphrase"
    weak = english.post(
        "/account/password",
        data={"csrf": csrf_of(form), "current": staff.password, "new": "short", "repeat": "short"},
    )
    assert weak.status_code == 400 and "at least 12 characters" in weak.text
    changed = english.post(
        "/account/password",
        data={"csrf": csrf_of(form), "current": staff.password, "new": new, "repeat": new},
    )
    assert (changed.status_code, changed.headers["location"]) == (303, "/")
    assert english.get("/account").status_code == 200
    assert {"totp-enrolment", "password-change", "login"} <= set(
        site.recorder.subtypes(f"staff:{staff.username}")
    )
    site.clock.advance(30)
    with site.browser() as again:
        assert post_login(again, staff.username, staff.password).status_code == 401
        assert post_login(again, staff.username, new).headers["location"] == "/login/totp"


def test_an_admin_reset_forces_a_new_password_and_ends_sessions(site, english):
    staff = site.account()
    sign_in(site, staff, english)
    temporary = site.accounts.reset_password(staff.username)
    assert english.get("/").headers["location"] == "/login"
    post_login(english, staff.username, temporary)
    post_code(english, staff.code(site.clock))
    assert english.get("/").headers["location"] == "/account/password"


def test_admin_without_clinical_role_needs_no_totp(site, english):
    staff = site.account((StaffRole.ADMIN,), enrol=False)
    answer = post_login(english, staff.username, staff.password)
    assert answer.headers["location"] == "/"
    assert "Set up two-factor authentication" in english.get("/account").text


def test_language_from_choice_then_browser_then_japanese(site):
    with site.browser() as browser:
        assert "サインイン" in browser.get("/login").text
        assert '<html lang="ja">' in browser.get("/login").text
        chosen = browser.get("/login?lang=en")
        assert "Sign in" in chosen.text and '<html lang="en">' in chosen.text
        assert browser.cookies["hv_lang"] == "en"
        assert '<html lang="en">' in browser.get("/login").text
    with site.browser(**{"Accept-Language": "fr;q=1, en;q=0.8, ja;q=0.5"}) as browser:
        assert '<html lang="en">' in browser.get("/login").text


def test_the_style_sheet_is_served_from_the_app(site, english):
    answer = english.get("/static/style.css")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/css")
    page = english.get("/login").text
    assert "<script" not in page and "style=" not in page and "<style" not in page


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("nul\x00byte", "whatever whatever"),
        ("x" * 5000, "whatever whatever"),
        ("élève ünïcode", "whatever whatever"),
        ("someone", "p" * 100_000),
        ("", ""),
    ],
)
def test_odd_credentials_are_a_plain_failure(site, english, username, password):
    answer = post_login(english, username, password)
    assert answer.status_code == 401 and FAILED_EN in answer.text


def test_bodies_that_are_no_form_are_refused_not_crashed(site, english):
    english.get("/login")
    as_json = english.post("/login", json={"username": "a", "password": "b"})
    broken = english.post(
        "/login",
        content=b'--xx\r\nContent-Disposition: form-data; name="csrf"\r\n\r\nabc',
        headers={"Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert as_json.status_code == 403
    assert 400 <= broken.status_code < 500


def test_signing_in_again_with_the_password_does_not_reset_wrong_codes(site, english):
    """Else whoever has the password could guess codes nine at a time, forever."""
    staff = site.account()
    post_login(english, staff.username, staff.password)
    for _ in range(9):
        assert post_code(english, "000000").status_code == 401
    with site.browser(**{"Accept-Language": "en"}) as again:
        assert post_login(again, staff.username, staff.password).status_code == 303
        page = again.get("/login/totp")
        tenth = again.post("/login/totp", data={"csrf": csrf_of(page), "code": "000000"})
        assert tenth.status_code == 401 and FAILED_EN in tenth.text  # locked
        assert post_login(again, staff.username, staff.password).status_code == 401
    site.clock.advance(15 * 60)
    with site.browser() as later:
        sign_in(site, staff, later)  # a full sign-in clears the count
        assert site.accounts.by_username(staff.username).locked_until_ms is None
