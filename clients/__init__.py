"""Clients of deephash's servers: Triton (gRPC/HTTP, :mod:`clients.triton`) and the BentoML service
(:mod:`clients.service`), with the ``deephash-client`` command line.

Frames are sampled by :mod:`deephash.video` on the client, so every path sends identical bytes.
"""
