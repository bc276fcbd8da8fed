"""Procedural training imagery: an endless stream of distinct images and short videos made without any photo.

Following "Learning to See by Looking at Noise" (Baradad et al., NeurIPS 2021), the images share statistics of
natural ones (1/f spectra, occlusion, edges and textures at every scale) so the copy-detection descriptor can
train on them without touching the evaluation footage. Everything is drawn from the caller's
``np.random.Generator`` (same state, same output); images are ``uint8 [H, W, 3]`` RGB, cheap enough to make on
the fly in data-loader workers.
"""

from deephash.data.procedural.compose import procedural_image
from deephash.data.procedural.generators import GENERATORS
from deephash.data.procedural.video import look_alike_videos, procedural_video

__all__ = ["GENERATORS", "look_alike_videos", "procedural_image", "procedural_video"]
