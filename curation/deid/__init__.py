"""De-identification: the one place identifiers stop. Every modality calls it.

- :mod:`.keys` keyed pseudonyms, UID remapping, per-patient date shifts (one secret)
- :mod:`.tabular` ``pseudonymize``, ``drop_identifiers`` (by the dictionary's PHI class)
- :mod:`.dates` ``shift_dates`` (shift or relative), ``generalize_birth`` (90+), ``age_band``
- :mod:`.text` ``scrub`` / ``scrub_series`` for allow-listed free text
- :mod:`.dicom` ``deidentify`` (PS3.15 Annex E, default deny; pydicom imported inside)
- :mod:`.scan` ``scan_bundle`` the leak scan; ``curation scan-phi``
- :mod:`.kanon` ``check_k_anonymity``, ``suppress_small_counts``
- :mod:`.logs` the redacting log filter

Submodules are imported on use, so ``import curation`` stays light.
"""

from .keys import Keyring, keyring_for, load_secret

__all__ = ["Keyring", "keyring_for", "load_secret"]
