"""deephash: binary video codes with a two-level category cascade, category masks and exact Hamming search.

Stages live in subpackages (``video``, ``model``, ``training``, ``data``, ``index``) and small modules
(``codes``, ``mask``, ``metrics``, ``evaluation``, ``hasher``); the CLI in ``deephash.cli`` only calls them.
"""

__version__ = "0.1.0"
