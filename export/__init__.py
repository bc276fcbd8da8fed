"""Everything made *from* a trained model folder: the ONNX export (whose sha256 is the model version) and its
parity with PyTorch, INT8 for CPUs, a TensorRT engine for GPUs, Triton model repositories, and the release
build of the default model. Depends on :mod:`deephash`; nothing in :mod:`deephash` imports it."""
