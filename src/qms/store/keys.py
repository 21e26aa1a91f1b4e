"""The project's Ed25519 signing keys.

* private: ``{root}/.qms/keys/{key_id}.key`` (hex seed, mode 0600; ``.qms/`` is never
  committed) and ``{root}/.qms/keys/active`` (the key that signs new events);
* public: ``QMS/.keys/{key_id}.pub`` (JSON), committed with the project so anyone can verify.

``cryptography`` is imported only here, and only when a key is made, used or checked: read
commands never load it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from qms.domain.integrity import sha256_bytes
from qms.errors import ProjectError, QMSError
from qms.store import atomic
from qms.store.project import Project
from qms.store.transaction import Transaction

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

ALGORITHM = "Ed25519"


class Signer:
    """A loaded private key."""

    def __init__(self, key_id: str, private: Any) -> None:
        self.key_id, self._private, self._public = key_id, private, None

    def sign(self, message: bytes) -> str:
        return self._private.sign(message).hex()

    def public_hex(self) -> str:
        return self._private.public_key().public_bytes_raw().hex()

    def verify(self, signature_hex: str, message: bytes) -> bool:
        """Whether this key made ``signature_hex`` over ``message`` (:func:`verifier`)."""
        if self._public is None:
            self._public = verifier(self.public_hex())
        return self._public(signature_hex, message)


_LOADED: dict[Path, Signer] = {}  # key file -> signer (a long-running server loads once)


def private_dir(project: Project) -> Path:
    return project.state_dir / "keys"


def public_dir(project: Project) -> Path:
    return project.qms / ".keys"


def public_path(project: Project, key_id: str) -> Path:
    return public_dir(project) / f"{key_id}.pub"


def has_public_keys(project: Project) -> bool:
    folder = public_dir(project)
    return folder.is_dir() and any(p.suffix == ".pub" for p in folder.iterdir())


def key_id_of(public_raw: bytes) -> str:
    return sha256_bytes(public_raw)[:16]


def active_signer(project: Project, tx: Transaction) -> Signer | None:
    """The key that signs new events here, or None when this copy has none."""
    key_id = (tx.read_text(private_dir(project) / "active") or "").strip()
    return signer(project, key_id) if key_id else None


def signer(project: Project, key_id: str) -> Signer | None:
    """The private key ``key_id`` of this copy (current or earlier), or None."""
    if not key_id or not all(c in "0123456789abcdef" for c in key_id):
        return None
    path = private_dir(project) / f"{key_id}.key"
    signer = _LOADED.get(path)
    if signer is None:
        text = project.read_text(path)  # no link, no FIFO (atomic)
        if text is None:
            return None
        try:
            seed = bytes.fromhex(text.strip())
        except ValueError:
            raise ProjectError(f"The signing key {project.rel(path)} is damaged.") from None
        signer = Signer(key_id, _private_key(seed))
        _LOADED[path] = signer
    return signer


def local_secret(project: Project, purpose: str) -> bytes | None:
    """A secret of this copy for ``purpose`` (an HMAC key, e.g. of a cache), derived from the
    active private key: only who holds the signing key can make or check what it
    authenticates. None when this copy has no (readable) key. ``cryptography`` is not
    loaded."""
    folder = private_dir(project)
    try:
        key_id = (project.read_text(folder / "active") or "").strip()
        if not key_id or not all(c in "0123456789abcdef" for c in key_id):
            return None
        text = project.read_text(folder / f"{key_id}.key")
        seed = bytes.fromhex(text.strip()) if text else None
    except (QMSError, ValueError):
        return None
    if not seed:
        return None
    import hmac

    return hmac.new(seed, purpose.encode(), "sha256").digest()


def _private_key(seed: bytes) -> Any:
    """The Ed25519 private key, loaded through cryptography's Rust binding directly: the
    public module (``...asymmetric.ed25519``) costs about three times as much to import, on
    every mutating command, and yields the same key object."""
    try:
        from cryptography.hazmat.bindings._rust import openssl

        return openssl.ed25519.from_private_bytes(seed)
    except (ImportError, AttributeError):  # a cryptography without that binding
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(seed)


def new_key(tx: Transaction, project: Project, user: str, ts: str,
            seed: bytes | None = None) -> tuple[Signer, str]:
    """Make a key pair (from ``seed``: an existing private key being imported): the private
    key is written now (mode 0600, outside the transaction, so it never passes through the
    journal); the public key and the ``active`` pointer are staged. Returns (signer,
    public key hex)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = Ed25519PrivateKey.generate() if seed is None else \
        Ed25519PrivateKey.from_private_bytes(seed)
    public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = key_id_of(public_raw)
    seed = private.private_bytes_raw()
    folder = private_dir(project)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    _write_private(folder / f"{key_id}.key", seed.hex() + "\n")
    tx.write_text(public_path(project, key_id), json.dumps(
        {"key_id": key_id, "algorithm": ALGORITHM, "public_key": public_raw.hex(),
         "created": ts, "created_by": user}, indent=2) + "\n")
    tx.write_text(folder / "active", key_id + "\n")
    ignore = project.state_dir / ".gitignore"
    if not tx.exists(ignore):  # a project of the earlier tool: keep .qms/ out of git
        tx.write_text(ignore, "*\n")
    signer = Signer(key_id, private)
    _LOADED[folder / f"{key_id}.key"] = signer
    return signer, public_raw.hex()


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    atomic.fsync_dir(path.parent)


def read_seed(path: Path) -> bytes:
    """The private key of a key file to import (64 hex digits, the ``{key_id}.key``
    format). Refused: a link, a special file, a file anyone but its owner may read or write
    (a private key others can read is not private), anything but one seed."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ProjectError(f"Cannot read the key file {path}: "
                           f"{exc.strerror or exc} (a link is never followed).") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ProjectError(f"The key file {path} is not a regular file.")
        if info.st_mode & 0o077:
            raise ProjectError(
                f"The key file {path} can be read or written by others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}): a private key others can read is not "
                "private. Copy it with 'install -m 600 FILE NEW' (or chmod 600 it) and "
                "import that.")
        data = os.read(fd, 200) if info.st_size <= 200 else b""
    finally:
        os.close(fd)
    text = data.decode("ascii", "replace").strip()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text.lower()):
        raise ProjectError(f"The key file {path} is not a private key in the .qms/keys/ "
                           "format (64 hex digits: an Ed25519 seed).")
    return bytes.fromhex(text)


def public_keys(project: Project) -> dict[str, dict[str, Any]]:
    """key_id -> the public key file's record (unreadable files are skipped; verify
    reports keys the chain uses but cannot find)."""
    found: dict[str, dict[str, Any]] = {}
    folder = public_dir(project)
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.pub")):
        try:
            record = json.loads(project.read_text(path) or "")
            bytes.fromhex(record["public_key"])
        except (ValueError, KeyError, TypeError, QMSError):  # damaged, a link, a FIFO
            continue
        if record.get("key_id") == path.stem:
            found[path.stem] = record
    return found


def verifier(public_hex: str) -> Any:
    """A callable ``(signature_hex, message) -> bool`` for one public key: the one check of
    an Ed25519 signature in qms. libsodium (PyNaCl) verifies in about half the time of
    OpenSSL here (``verify --all-signatures`` checks every event of the chain) and is the
    stricter of the two (it also refuses small-order keys and points), so a signature it
    accepts, OpenSSL accepts as well. Its binding is loaded alone (``nacl._sodium``, 2 ms),
    not through ``nacl.bindings``, which loads every primitive (9 ms of every signing
    command and export)."""
    from nacl._sodium import ffi, lib

    raw = bytes.fromhex(public_hex)
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
    if not _SODIUM:
        _SODIUM.append(lib.sodium_init())  # -1 only when libsodium cannot start at all
    opened = ffi.new("unsigned long long *")

    def check(signature_hex: str, message: bytes) -> bool:
        try:
            signed = bytes.fromhex(signature_hex) + message
        except (ValueError, TypeError):
            return False
        if len(signed) - len(message) != 64:
            return False
        out = ffi.new("unsigned char[]", len(signed))
        return lib.crypto_sign_open(out, opened, signed, len(signed), raw) == 0

    return check


_SODIUM: list[int] = []
