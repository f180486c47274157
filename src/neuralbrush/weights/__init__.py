"""Pretrained weights: a catalogue of known files and a local store (fetch, import, verify)."""

from .store import (CATALOGUE, WeightsEntry, fetch, find, import_file, list_entries, require, store_dir,
                    verify)

__all__ = ["CATALOGUE", "WeightsEntry", "fetch", "find", "import_file", "list_entries", "require", "store_dir",
           "verify"]
