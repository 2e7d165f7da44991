"""Synthetic multi-view datasets: procedural objects, a sphere-tracing renderer, splits and dataset cards.

Data flow: category + object id -> `ObjectBuilder` (shapes, materials) -> `Shapes` (packed tensors)
-> `render_views` (RGBA images) -> `builder.build_dataset` (a `datasets.DatasetDict`) -> `builder.save_dataset`.

`builder` and `card` need the `datasets` package (the `train` extras); the names exported here do not.
"""

from pix2nerf.data.synthetic.categories import CATEGORIES, Category, get_category, make_object, make_objects, register
from pix2nerf.data.synthetic.jobs import render_objects
from pix2nerf.data.synthetic.renderer import render_views
from pix2nerf.data.synthetic.shapes import Material, ObjectBuilder, Shapes

__all__ = [
    "CATEGORIES",
    "Category",
    "Material",
    "ObjectBuilder",
    "Shapes",
    "get_category",
    "make_object",
    "make_objects",
    "register",
    "render_objects",
    "render_views",
]
