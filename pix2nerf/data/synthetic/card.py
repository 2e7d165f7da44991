"""The dataset card (README.md with Hub YAML metadata) and the preview grid of a synthetic dataset."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import datasets
import numpy as np
import torch
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCardData
from PIL import Image

from pix2nerf.data.synthetic.categories import Category

PREVIEW_FILE = "preview.png"
LICENSE = "cc-by-4.0"


def preview_grid(test: datasets.Dataset, objects: int = 4, views: int = 6) -> Image.Image:
    """RGB grid of the first `objects` test objects (rows) in `views` evenly spaced views (columns) over white."""
    per_object = max(test["view_id"]) + 1
    objects = min(objects, len(test) // per_object)
    chosen = sorted({round(v * per_object / views) for v in range(views)} & set(range(per_object)))
    tiles = [[_over_white(test[o * per_object + v]["image"]) for v in chosen] for o in range(objects)]
    return Image.fromarray(np.concatenate([np.concatenate(row, axis=1) for row in tiles], axis=0))


def _over_white(image: Image.Image) -> np.ndarray:
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
    rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])
    return np.round(rgb * 255).astype(np.uint8)


# the `pix2nerf make-dataset` options that decide a dataset's bytes, as recorded in its card
BUILD_SETTINGS = (
    "category",
    "train_objects",
    "test_objects",
    "test_views",
    "resolution",
    "seed",
    "supersample",
    "format",
    "device",
)


def make_dataset_command(settings: dict) -> str:
    """The `pix2nerf make-dataset` command line for build settings (the keys of `dataset_card`)."""
    parts = ["pix2nerf", "make-dataset"]
    for key in BUILD_SETTINGS:
        parts += [f"--{key.replace('_', '-')}", str(settings[key])]
    return shlex.join(parts + ["--out", "DIR"])


DATA_FILES = {"arrow": "{split}/data-*.arrow", "parquet": "data/{split}-*.parquet"}  # as save_dataset writes them


def card_data(dataset: datasets.DatasetDict, category: Category, settings: dict, folder: Path) -> DatasetCardData:
    """The card's YAML metadata: licence, tags, `configs` naming the data files of `settings["format"]` in `folder`
    (so that `datasets.load_dataset(folder)` reads them) and a complete `dataset_info` (features, splits with rows
    and bytes, download and dataset sizes)."""
    pattern = DATA_FILES[settings["format"]]
    files = [path for split in dataset for path in folder.glob(pattern.format(split=split))]
    splits = datasets.SplitDict()
    for split, ds in dataset.items():
        splits.add(datasets.SplitInfo(name=split, num_bytes=ds.data.nbytes, num_examples=len(ds)))
    info = datasets.DatasetInfo(
        features=next(iter(dataset.values())).features,
        splits=splits,
        download_size=sum(path.stat().st_size for path in files),
        dataset_size=sum(split.num_bytes for split in splits.values()),
    )
    data = DatasetCardData(
        license=LICENSE,
        pretty_name=f"Pix2NeRF synthetic {category.name}",
        task_categories=["image-to-3d"],
        tags=["synthetic", "procedural", "3d", "multi-view", "novel-view-synthesis", "nerf", "pix2nerf", category.name],
        size_categories=[_size_category(sum(len(split) for split in dataset.values()))],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": pattern.format(split=split)} for split in dataset],
            }
        ],
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    return data


def dataset_card(dataset: datasets.DatasetDict, category: Category, settings: dict, folder: str | Path) -> str:
    """README.md text for a dataset built with `settings` (category, train_objects, test_objects, test_views,
    resolution, seed, supersample, format, device) and saved in `folder` by `save_dataset`."""
    config = category.config()
    pitch_low = config.pitch_mean - config.pitch_spread
    pitch_high = config.pitch_mean + config.pitch_spread
    name = category.name
    metadata = card_data(dataset, category, settings, Path(folder))
    return f"""---
{metadata.to_yaml()}
---

# Pix2NeRF synthetic {name}

Procedural {category.description}, rendered at {settings["resolution"]}x{settings["resolution"]} pixels with the
cameras of the `{category.preset}` preset of pix2nerf, a re-implementation of
[Pix2NeRF](https://arxiv.org/abs/2202.13162): training data for a Pix2NeRF model (one image in, a radiance field
out) and, in `test`, multi-view ground truth for novel-view evaluation.

![Test objects (rows) seen from around them (columns), composited over white]({PREVIEW_FILE})

*Test objects (rows) in evenly spaced views of their orbit (columns), composited over white. The pix2nerf
repository keeps this grid for the seed-0 datasets as `docs/images/synthetic_{name}_grid.png`.*

## Splits

| split | objects | views per object | rows | use |
| --- | --- | --- | --- | --- |
| `train` | {settings["train_objects"]} | 1 | {len(dataset["train"])} | training; one view at a random pose from the pose prior (poses are stored for analysis: Pix2NeRF trains unposed) |
| `test` | {settings["test_objects"]} | {settings["test_views"]} | {len(dataset["test"])} | evaluation; held-out objects; view 0 at a random prior pose (the input), the others around the object |

Test objects come from a different random stream than training objects (their ids never match). In the test
split, view 0 is drawn from the prior like a training image; views 1..{settings["test_views"] - 1} have yaws evenly
spaced over 360 degrees from view 0's yaw and pitches that rise through the prior's pitch band (evenly spaced
sin(pitch)), a spiral around the object.

## Columns

| column | type | meaning |
| --- | --- | --- |
| `image` | image (RGBA PNG) | the render; alpha is the pixel's coverage; composite over white for training: `rgb * a + (1 - a)` |
| `yaw` | float32 | camera yaw, degrees |
| `pitch` | float32 | camera pitch, degrees |
| `fov` | float32 | full field of view, degrees ({config.fov:g}) |
| `object_id` | int64 | the object's seed: every row of one object shares it |
| `view_id` | int32 | view index within the object (always 0 in `train`) |
| `category` | string | `{name}` |

## Cameras

The camera sits on the unit sphere at `(-cos(pitch) sin(yaw), sin(pitch), cos(pitch) cos(yaw))`, looks at the
origin with +y up and no roll; yaw 0 / pitch 0 is the front view (the object's front faces +z), positive pitch
looks from above. Pixel centres lie on `linspace(-1, 1)` edge to edge, y up; the ray through pixel (x, y) is
`normalize(x, y, -1 / tan(fov / 2))` in camera space. This is `pix2nerf.rendering.cameras` (`world_rays`,
`project_points`): a 3D point projects with `project_points` to the pixel where it is seen.

Pose prior (`{category.preset}` preset, drawn with `pix2nerf.rendering.cameras.sample_poses`): fov {config.fov:g} degrees;
every object lies inside the ray range {config.ray_start:g}-{config.ray_end:g} along each ray and inside the view;
yaw uniform in [{config.yaw_mean - config.yaw_spread:g}, {config.yaw_mean + config.yaw_spread:g}) degrees; pitch
area-uniform (sin(pitch) uniform) in [{pitch_low:.2f}, {pitch_high:.2f}] degrees. This is the distribution the
model's generator samples its poses from.

## How it was made

Each object is a union of signed-distance primitives (rounded boxes and rounded cylinders, mirror symmetric about
the x = 0 plane) with per-part colours and materials, drawn from a `torch.Generator` seeded by its id, centred on
its bounding box and scaled to fit the cameras. A sphere-tracing renderer in torch marches the rays from their
entry into the object's bounding box, shades hits with ambient sky light, a diffuse key and fill light fixed in
world space and a soft Blinn-Phong highlight (gamma 2), and supersamples pixels at silhouettes and material
boundaries with {settings["supersample"]}x{settings["supersample"]} rays per pixel; alpha is the fraction of
covered rays. Transparent pixels are stored as white.

## Regenerate

```bash
pip install -r requirements-dev.txt   # in a pix2nerf checkout
{make_dataset_command(settings)}
```

The same command gives the same bytes on the same kind of device with the same torch version
(this copy: torch {torch.__version__}, device `{settings["device"]}`).

## Use

```python
import numpy as np
from datasets import load_dataset

ds = load_dataset("DIR")  # the folder (either --format) or the hub id
row = ds["test"][0]
rgba = np.asarray(row["image"], dtype=np.float32) / 255
rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])  # over white, as in training
```

## License

{LICENSE.upper()}: the objects are procedural, with no third-party assets.
"""


def _size_category(rows: int) -> str:
    """The Hub's size category for a number of rows."""
    if rows < 1000:
        return "n<1K"
    bounds = ["1K", "10K", "100K", "1M", "10M"]
    index = min(int(math.log10(rows)) - 3, len(bounds) - 2)
    return f"{bounds[index]}<n<{bounds[index + 1]}"
