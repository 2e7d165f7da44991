"""The object categories: how each draws an object and which camera preset (pose prior) it is rendered with.

Adding a category: write `make_<thing>(draws: Draws) -> ObjectBuilder` (natural units, front towards +z, up +y,
mirror symmetric about x = 0) and register it below with the preset whose cameras it is made for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.data.synthetic.cars import make_car
from pix2nerf.data.synthetic.chairs import make_chair
from pix2nerf.data.synthetic.draws import Draws
from pix2nerf.data.synthetic.shapes import ObjectBuilder, Shapes

FIT_MARGIN = 0.02  # objects stay this far inside the sphere that the preset's cameras fully see


@dataclass(frozen=True)
class Category:
    """An object category: `make` draws one object; `preset` names the `Pix2NeRFConfig` preset whose cameras
    (fov, ray range) and pose prior the data is rendered with."""

    name: str
    preset: str
    make: Callable[[Draws], ObjectBuilder]
    description: str

    def config(self) -> Pix2NeRFConfig:
        """The preset's config: fov, ray_start, ray_end and the pose prior fields."""
        return Pix2NeRFConfig.from_preset(self.preset)

    def fit_radius(self) -> float:
        """Radius of the sphere around the origin that every object lies in: within [ray_start, ray_end] of every
        camera and inside every camera's field of view."""
        config = self.config()
        return min(1.0 - config.ray_start, config.ray_end - 1.0, math.sin(math.radians(config.fov / 2))) - FIT_MARGIN


CATEGORIES: dict[str, Category] = {}


def register(category: Category) -> None:
    """Add a category under its name."""
    if category.name in CATEGORIES:
        raise ValueError(f"category {category.name!r} is already registered")
    CATEGORIES[category.name] = category


def get_category(name: str) -> Category:
    """The registered category called `name`; ValueError listing the known ones otherwise."""
    if name not in CATEGORIES:
        raise ValueError(f"unknown category {name!r}; available categories: {', '.join(sorted(CATEGORIES))}")
    return CATEGORIES[name]


def make_object(category: Category, object_id: int, radius: float | None = None) -> ObjectBuilder:
    """Object `object_id` of `category` (the id seeds its own torch.Generator), fitted into a sphere of `radius`
    (default: the category's `fit_radius`)."""
    radius = category.fit_radius() if radius is None else radius
    return category.make(Draws(torch.Generator().manual_seed(int(object_id)))).fitted(radius)


def make_objects(category: Category, object_ids: Sequence[int], device: torch.device | str = "cpu") -> Shapes:
    """The objects with these ids, packed for `render_views`."""
    radius = category.fit_radius()
    return Shapes.stack([make_object(category, i, radius) for i in object_ids], device)


register(
    Category(
        "cars",
        "carla",
        make_car,
        "cars (sedans, hatchbacks, SUVs, sports cars, pickups and vans): painted body, dark glass cabin with a roof "
        "(sometimes two-tone), wheels with hubs, bumpers, head- and taillights",
    )
)
register(
    Category(
        "chairs",
        "srn_chairs",
        make_chair,
        "chairs: seat, solid, slatted or ladder back, four straight or splayed legs, a swivel or a pedestal base, "
        "optional armrests; wood, metal, plastic, fabric and leather",
    )
)
