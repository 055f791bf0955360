"""De-identification: the one place identifiers stop. Every modality calls it."""

from .keys import Keyring, keyring_for, load_secret

__all__ = ["Keyring", "keyring_for", "load_secret"]
