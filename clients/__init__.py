"""Clients of deephash's servers: Triton (gRPC/HTTP) now, the BentoML service later.

Frames are sampled by :mod:`deephash.video` on the client, so every path sends identical bytes.
"""
