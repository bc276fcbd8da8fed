"""The code library: shards, manifest, crash-safe writes and the fused masked top-k scan."""

from deephash.index.library import Library
from deephash.index.reading import Hit, StoredCode
from deephash.index.scan import masked_topk, reference_topk

__all__ = ["Hit", "Library", "StoredCode", "masked_topk", "reference_topk"]
