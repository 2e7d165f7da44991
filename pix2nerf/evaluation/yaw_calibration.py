"""Give a trained model the data's yaw origin (the `pix2nerf calibrate-yaw` command).

A GAN trained on unposed images under a full-circle yaw prior picks its own yaw origin (see
pix2nerf.evaluation.benchmark). Calibration encodes posed views of objects that the evaluation does not use, fits the
one global offset between the encoder's yaws and theirs, and stores it as config.yaw_offset: `render` and `encode` then
speak the data's yaws (yaw 0 = the front view). Renders and the relative-pose metrics do not change; only the meaning of
yaw does.

    pix2nerf calibrate-yaw runs/synthetic-cars/model --data data/reference-cars --split test --num-objects 100
"""

from __future__ import annotations

from typing import Any

import torch

from pix2nerf.evaluation.benchmark import encoded_pose_errors, fit_yaw_offset
from pix2nerf.rendering.cameras import wrap_degrees

RECORD_NAME = "yaw_calibration.json"


def calibrate_yaw(model, objects) -> dict[str, Any]:
    """Set model.config.yaw_offset from posed `objects` (ObjectViews); returns what was measured, in degrees."""
    yaw_differences, _ = encoded_pose_errors(model, objects, progress=False)
    differences = torch.cat(yaw_differences)
    correction = fit_yaw_offset(differences)
    offset = wrap_degrees(torch.tensor(model.config.yaw_offset + correction, dtype=torch.float64))
    model.config.yaw_offset = float(offset)
    return {
        "objects": len(objects),
        "pose_views": differences.numel(),
        "yaw_offset_deg": model.config.yaw_offset,
        "yaw_error_median_deg_before": differences.abs().median().item(),
        "yaw_error_median_deg_after": wrap_degrees(differences - correction).abs().median().item(),
    }
