"""The CLI tests' runner (``q``, ``make_q``) for the integrity tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from qms.store import keys

_NAME = "_qms_tests_cli_conftest"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).parents[1] / "cli" / "conftest.py")
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
_cli = sys.modules[_NAME]

Q = _cli.Q
q = _cli.q
make_q = _cli.make_q
digest = _cli.digest


@pytest.fixture
def new_key():
    """``new_key(folder, mode=0o600)``: a fresh Ed25519 seed written in the .qms/keys/ format
    (64 hex digits); returns (file, key id, seed hex)."""
    return _new_key_file


def _new_key_file(folder: Path, mode: int = 0o600) -> tuple[Path, str, str]:
    """A fresh Ed25519 seed in the .qms/keys/ format: (file, key id, seed hex)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw().hex()
    key_id = keys.key_id_of(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    path = folder / f"{key_id}.key"
    path.write_text(seed + "\n")
    path.chmod(mode)
    return path, key_id, seed
