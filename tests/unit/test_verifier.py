"""The one Ed25519 check (store/keys.verifier, libsodium): what it accepts and refuses."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from qms.store import keys

req = pytest.mark.req


@pytest.fixture()
def signed():
    private = Ed25519PrivateKey.generate()
    message = b"seq 1 CR-001 sha256"
    return private.public_key().public_bytes_raw().hex(), message, private.sign(message).hex()


@req("REQ-INTEG-002")
def test_a_signature_made_with_cryptography_verifies(signed):
    public, message, signature = signed
    assert keys.verifier(public)(signature, message)


@req("REQ-INTEG-002")
@pytest.mark.parametrize("mangle", [
    lambda s, m: (s, m + b"x"),  # another message
    lambda s, m: (s[:-2] + ("00" if s[-2:] != "00" else "01"), m),  # a flipped byte
    lambda s, m: (s[:-2], m),  # 63 bytes
    lambda s, m: (s + "00", m),  # 65 bytes: a message byte smuggled into the signature
    lambda s, m: ("zz" * 64, m),  # not hex
    lambda s, m: (None, m),  # not text
    lambda s, m: ("", m),
])
def test_anything_else_is_refused_without_raising(signed, mangle):
    public, message, signature = signed
    assert keys.verifier(public)(*mangle(signature, message)) is False


@req("REQ-INTEG-002")
def test_another_key_does_not_verify(signed):
    _, message, signature = signed
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    assert keys.verifier(other)(signature, message) is False


@req("REQ-INTEG-002")
def test_a_small_order_key_verifies_nothing():
    """The identity point as a key with the signature (R = identity, S = 0) satisfies the
    cofactorless equation for every message under a lax verifier; libsodium refuses it."""
    identity = (1).to_bytes(32, "little").hex()
    assert keys.verifier(identity)(identity + "00" * 32, b"anything") is False


@req("REQ-INTEG-002")
@pytest.mark.parametrize("public", ["00" * 31, "00" * 33, "not hex"])
def test_a_malformed_key_is_a_value_error(public):
    with pytest.raises(ValueError):
        keys.verifier(public)


def test_the_signer_checks_through_the_same_function(signed):
    _, message, _ = signed
    private = Ed25519PrivateKey.generate()
    signer = keys.Signer("k", private)
    assert signer.verify(signer.sign(message), message)
    assert not signer.verify(signer.sign(message), message + b"!")
