"""Triton Inference Server: model-repository configs generated from a small dataclass, and the owner of a
local ``tritonserver`` process (the binary bundled in nvidia-pytriton)."""
