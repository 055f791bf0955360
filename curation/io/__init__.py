"""Readers and the atomic, checksummed output bundle."""

from .bundle import Bundle, atomic_path, sha256_file, write_json, write_parquet, write_text

__all__ = ["Bundle", "atomic_path", "sha256_file", "write_json", "write_parquet", "write_text"]
