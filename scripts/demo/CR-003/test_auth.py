"""Tests of the sign-in service, traced to SDLC-AUTH-RS by their req markers."""

import pytest

from auth.service import AuthService


@pytest.fixture
def service():
    svc = AuthService()
    svc.register("ada", "correct horse battery staple")
    return svc


@pytest.mark.req("REQ-AUTH-001")
def test_valid_password_signs_in(service):
    assert service.sign_in("ada", "correct horse battery staple", now=0) == "ok"


@pytest.mark.req("REQ-AUTH-001")
def test_wrong_password_and_unknown_user_are_refused_alike(service):
    assert service.sign_in("ada", "guess", now=0) == "invalid credentials"
    assert service.sign_in("bob", "guess", now=0) == "invalid credentials"


@pytest.mark.req("REQ-AUTH-002")
def test_five_failures_lock_the_account(service):
    for _ in range(5):
        service.sign_in("ada", "guess", now=0)
    assert service.sign_in("ada", "correct horse battery staple", now=1).startswith(
        "account locked")


@pytest.mark.req("REQ-AUTH-002")
def test_a_locked_account_says_when_to_try_again(service):
    for _ in range(5):
        service.sign_in("ada", "guess", now=0)
    answer = service.sign_in("ada", "correct horse battery staple", now=61)
    assert answer == "account locked: try again in 14 min"


@pytest.mark.req("REQ-AUTH-002")
def test_lock_expires_after_fifteen_minutes(service):
    for _ in range(5):
        service.sign_in("ada", "guess", now=0)
    assert service.sign_in("ada", "correct horse battery staple", now=15 * 60) == "ok"


@pytest.mark.req("REQ-AUTH-003")
def test_success_resets_the_failure_count(service):
    for _ in range(4):
        service.sign_in("ada", "guess", now=0)
    assert service.sign_in("ada", "correct horse battery staple", now=0) == "ok"
    for _ in range(4):
        service.sign_in("ada", "guess", now=0)
    assert service.sign_in("ada", "correct horse battery staple", now=0) == "ok"
