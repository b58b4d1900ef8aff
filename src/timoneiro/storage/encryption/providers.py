"""The value transformers of kube-apiserver's encryption at rest, with upstream's byte layouts.

A stored value is `k8s:enc:PROVIDER:v1:KEYNAME:` and then, per provider:
- aescbc: a random 16-byte IV, then AES-CBC of the value with PKCS#7 padding;
- aesgcm: a random 12-byte nonce, then AES-GCM's ciphertext and tag, authenticated with the store key;
- secretbox: a random 24-byte nonce, then NaCl's secretbox (Poly1305 tag, XSalsa20 ciphertext).
Values written by the identity provider carry no prefix. So a value read back names the provider and the
key that wrote it, which is what lets keys rotate. Decryption failures raise ValueError with upstream's
message, because those messages are what clients see in the 500 for an unreadable object.
"""

from __future__ import annotations

import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM as GCM
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

ENCRYPTED = b"k8s:enc:"
SHORT = "the stored data was shorter than the required size"


class Transformer(Protocol):
    def to_storage(self, data: bytes, context: bytes) -> bytes: ...

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        """The original bytes and whether they are stale (not written by the preferred provider and key)."""


class AESCBC:
    """Unauthenticated: upstream keeps it for old configurations; no authenticated data."""

    def __init__(self, key: bytes) -> None:
        self._aes = algorithms.AES(key)

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        iv = os.urandom(16)
        pad = 16 - len(data) % 16
        enc = Cipher(self._aes, modes.CBC(iv)).encryptor()
        return iv + enc.update(data + bytes((pad,)) * pad) + enc.finalize()

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < 16:
            raise ValueError(SHORT)
        if len(data) % 16:
            raise ValueError("the stored data is not a multiple of the block size")
        dec = Cipher(self._aes, modes.CBC(data[:16])).decryptor()
        out = dec.update(data[16:]) + dec.finalize()
        pad = out[-1] if out else 0
        if pad == 0 or pad > len(out):
            raise ValueError("invalid PKCS7 data (empty or not padded)")
        if out[-pad:] != bytes((pad,)) * pad:
            raise ValueError("invalid padding on input")
        return out[:-pad], False


class AESGCM:
    """AES-GCM with a random 96-bit nonce; the store key is the authenticated data, as upstream binds a
    value to its etcd key, so a value copied under another key does not decrypt."""

    def __init__(self, key: bytes) -> None:
        self._aead = GCM(key)

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, context)

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < 12:
            raise ValueError(SHORT)
        try:
            return self._aead.decrypt(data[:12], data[12:], context), False
        except InvalidTag:
            raise ValueError("cipher: message authentication failed") from None


class Secretbox:
    def __init__(self, key: bytes) -> None:
        self._box = SecretBox(key)

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        return bytes(self._box.encrypt(data, os.urandom(SecretBox.NONCE_SIZE)))

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < SecretBox.NONCE_SIZE + SecretBox.MACBYTES:
            raise ValueError(SHORT)
        try:
            return self._box.decrypt(data[SecretBox.NONCE_SIZE:], data[:SecretBox.NONCE_SIZE]), False
        except CryptoError:
            raise ValueError("output array was not large enough for encryption") from None  # upstream's words


class Identity:
    """Writes values as they are; refuses to read encrypted ones, so that a provider list with identity
    first still finds the encryption provider that reads them."""

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        return data

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if data.startswith(ENCRYPTED):
            raise ValueError("identity transformer tried to read encrypted data")
        return data, False


class PrefixChoice:
    """Writes with the first transformer under its prefix; reads with the first whose prefix the value
    starts with and that succeeds (two providers of one type share a prefix). Used twice, as upstream:
    choosing a provider by `k8s:enc:NAME:v1:`, then a key of it by `KEYNAME:`. A read by any but the
    first is stale: the object is rewritten by the next update even if unchanged."""

    def __init__(self, choices: list[tuple[bytes, Transformer]], none_matched: str) -> None:
        self.choices = choices
        self.none_matched = none_matched

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        prefix, first = self.choices[0]
        return prefix + first.to_storage(data, context)

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        errors: list[str] = []
        for i, (prefix, transformer) in enumerate(self.choices):
            if not data.startswith(prefix):
                continue
            try:
                out, stale = transformer.from_storage(data[len(prefix):], context)
            except ValueError as e:
                if prefix:  # identity's refusal only means: try the next
                    errors.append(str(e))
                continue
            return out, stale or i != 0
        raise ValueError(aggregate(errors) if errors else self.none_matched)


def aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate's text: one message as is, several (duplicates once) in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
