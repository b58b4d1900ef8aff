"""Encryption at rest, as kube-apiserver's --encryption-provider-config does it: the values of configured
resources are encrypted before they reach the store's file and decrypted as they are read back.

config: the EncryptionConfiguration file (and the default one written for a new cluster); providers: the
ciphers and upstream's byte layouts; transformer: which store keys use which providers.
"""

from timoneiro.storage.encryption.config import ConfigError, ensure_default, load
from timoneiro.storage.encryption.transformer import Transformers

__all__ = ["ConfigError", "Transformers", "ensure_default", "load"]
