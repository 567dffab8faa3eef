"""The Ed25519 key that signs the action log's digests (``AUDIT_SIGNING_KEY``).

Imports nothing from Django at module level: production settings use
:func:`load_signing_key` to refuse a key that is not an Ed25519 private key.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from apps.audit.offline_verify import public_key_fingerprint


class InvalidSigningKey(ValueError):
    pass


class DigestsOff(Exception):
    """No signing key is configured (or AUDIT_DIGEST_MINUTES=0): digests are off."""


def load_signing_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.strip().encode() + b"\n", password=None)
    except (ValueError, TypeError) as error:
        raise InvalidSigningKey(f"not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidSigningKey("not an Ed25519 key (openssl genpkey -algorithm ed25519)")
    return key


def generate_signing_key_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def configured_signing_key() -> Ed25519PrivateKey:
    """The key from settings; :class:`DigestsOff` when there is none."""
    from django.conf import settings

    if settings.AUDIT_DIGEST_MINUTES <= 0 or not settings.AUDIT_SIGNING_KEY.strip():
        raise DigestsOff(
            "Signed digests are off: set AUDIT_SIGNING_KEY (and AUDIT_DIGEST_MINUTES > 0)."
        )
    return load_signing_key(settings.AUDIT_SIGNING_KEY)


def configured_public_key() -> Ed25519PublicKey | None:
    try:
        return configured_signing_key().public_key()
    except DigestsOff:
        return None


def fingerprint_for_display(public_key: Ed25519PublicKey) -> str:
    """``sha256:`` then the hex digest in groups of four, easy to compare by eye."""
    hexdigest = public_key_fingerprint(public_key).removeprefix("sha256:")
    return "sha256:" + " ".join(hexdigest[i : i + 4] for i in range(0, len(hexdigest), 4))
