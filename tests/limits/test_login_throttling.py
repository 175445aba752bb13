"""Login throttling (moto, the shared clock moved instead of sleeping): failed logins slow the next attempt per
username and per source address with a doubling delay capped at LOGIN_DELAY_MAX_SECONDS; the right password works
once the delay is over and resets the username's failures; registration and SSO are limited per source address."""
import pytest


@pytest.fixture
def user(api):
    api.register(username="victim_1", password="right-password-1")
    return "victim_1"


def _login(api, username, password):
    return api.post("/api/auth/login", {"username": username, "password": password})


def test_fifty_wrong_passwords_are_slowed_down_and_the_right_one_works_after_the_delay(api, user, fresh_window,
                                                                                       from_ip, monkeypatch):
    # an hour's window (the default is 15 min, fixed windows): the waits below add up to ~20 min
    monkeypatch.setenv("LOGIN_WINDOW_SECONDS", "3600")
    from_ip("10.0.0.66")
    statuses, waits = [], []
    for _ in range(50):
        r = _login(api, user, "wrong-password")
        statuses.append(r.status)
        if r.status == 429:
            assert r.json["code"] == "LOGIN_THROTTLED"
            waits.append(int(r.headers["Retry-After"]))
            fresh_window.advance(waits[-1] * 1000)  # a patient attacker waits exactly as told
        else:
            assert r.status == 401 and r.json["code"] == "INVALID_CREDENTIALS", r
    assert statuses[:5] == [401] * 5  # the free failures
    assert statuses[5] == 429 and waits[0] == 1  # then a delay, doubling ...
    assert waits == sorted(waits) and waits[:7] == [1, 2, 4, 8, 16, 32, 60] and max(waits) == 60  # ... capped
    assert statuses.count(401) <= 5 + 25  # half the attempts were refused unchecked
    fresh_window.advance(60_000)
    assert _login(api, user, "wrong-password").status == 401  # one more failure: a delay (capped) runs again
    r = _login(api, user, "right-password-1")  # a delay is running: even the right password waits
    assert r.status == 429 and int(r.headers["Retry-After"]) <= 60
    fresh_window.advance(int(r.headers["Retry-After"]) * 1000)
    assert _login(api, user, "right-password-1").status == 200  # ... and works once it is over


def test_a_stranger_cannot_lock_a_user_out_for_long(api, user, fresh_window, from_ip):
    from_ip("10.0.0.66")
    for _ in range(30):  # a burst of wrong passwords, without waiting
        assert _login(api, user, "wrong-password").status in (401, 429)
    from_ip("192.0.2.7")  # the user, from elsewhere
    r = _login(api, user, "right-password-1")
    assert r.status == 429 and int(r.headers["Retry-After"]) <= 60, r  # at most the cap
    fresh_window.advance(60_000)
    assert _login(api, user, "right-password-1").status == 200
    # the success reset the username's failures: the next wrong password is a plain 401, not a delay
    assert _login(api, user, "wrong-password").status == 401
    assert _login(api, user, "right-password-1").status == 200


def test_failures_from_one_address_over_many_usernames_are_slowed_down(api, fresh_window, from_ip):
    from_ip("10.0.0.99")
    statuses = [_login(api, f"nobody_{k}", "wrong-password").status for k in range(25)]
    assert statuses[:20] == [401] * 20 and 429 in statuses[20:]  # LOGIN_FREE_FAILURES_IP = 20 by default
    from_ip("10.0.0.100")
    assert _login(api, "nobody_0", "wrong-password").status == 401  # another address is not slowed


def test_registration_is_limited_per_source_address(api, monkeypatch, fresh_window, from_ip):
    monkeypatch.setenv("RATE_LIMIT_REGISTER_IP", "3")
    from_ip("10.1.1.1")
    for k in range(3):
        assert api.post("/api/auth/register", {"username": f"reg_a{k}", "password": "password-123"}).status == 201
    r = api.post("/api/auth/register", {"username": "reg_a9", "password": "password-123"})
    assert r.status == 429 and r.json["code"] == "RATE_LIMITED" and int(r.headers["Retry-After"]) >= 1, r
    assert _login(api, "reg_a9", "password-123").status == 401  # refused before anything was written
    from_ip("10.1.1.2")
    assert api.post("/api/auth/register", {"username": "reg_a9", "password": "password-123"}).status == 201
    fresh_window.advance(60_000)
    from_ip("10.1.1.1")
    assert api.post("/api/auth/register", {"username": "reg_b1", "password": "password-123"}).status == 201


def test_sso_sign_ins_are_limited_per_source_address(api, monkeypatch, from_ip):
    monkeypatch.setenv("RATE_LIMIT_SSO_IP", "2")
    from_ip("10.2.2.2")
    assert api.post("/api/auth/sso/token", {"token": "a.b.c"}).status == 401
    assert api.get("/api/auth/sso?token=a.b.c").status == 401
    r = api.post("/api/auth/sso/token", {"token": "a.b.c"})
    assert r.status == 429 and r.json["code"] == "RATE_LIMITED" and "Retry-After" in r.headers, r
    assert api.get("/api/auth/sso?token=a.b.c").status == 429  # one bucket for both SSO entry points
    from_ip("10.2.2.3")
    assert api.post("/api/auth/sso/token", {"token": "a.b.c"}).status == 401
