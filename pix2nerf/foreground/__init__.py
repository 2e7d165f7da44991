"""Background removal and re-framing of a user's photo, before the encoder (offline: a small segmentation network
whose weights ship with the package).

photo -> `remove_background` (RGBA, alpha = the object's mask) -> `reframe` (the object at the training data's
size in the frame, over the model's background) -> the encoder's crop and resize. `prepare_image` picks the steps.
"""

from pix2nerf.foreground.framing import box_fraction, reframe
from pix2nerf.foreground.policy import PREPROCESS_MODES, prepare_image
from pix2nerf.foreground.segmentation import remove_background

__all__ = ["PREPROCESS_MODES", "box_fraction", "prepare_image", "reframe", "remove_background"]
