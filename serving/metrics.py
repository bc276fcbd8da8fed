"""The service's own series on BentoML's /metrics (prometheus_client directly: bentoml.metrics is deprecated)."""

from prometheus_client import Counter, Gauge

HASHED = Counter("deephash_videos_hashed", "Uploads decoded and run through the model", ["backend"])
SEARCHES = Counter("deephash_searches", "Searches answered", ["query", "modality"])
ROWS = Gauge("deephash_library_rows", "Live rows in the library", ["library"], multiprocess_mode="mostrecent")
