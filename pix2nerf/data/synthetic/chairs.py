"""Procedural chairs: a seat, a back (solid, slatted or ladder), four legs or a swivel or pedestal base, and
optional armrests, in wood, metal, plastic, fabric or leather.

Natural units (metres) before fitting (`ObjectBuilder.fitted`): the floor is y = 0, the seat's front faces +z, and
parts on the x >= 0 side are mirrored to the other side.
"""

from __future__ import annotations

import math

from pix2nerf.data.synthetic.draws import Draws
from pix2nerf.data.synthetic.shapes import Material, ObjectBuilder

WOODS = ((0.55, 0.36, 0.20), (0.40, 0.25, 0.13), (0.76, 0.59, 0.39), (0.24, 0.15, 0.08), (0.66, 0.50, 0.33))
METALS = ((0.72, 0.73, 0.75), (0.10, 0.10, 0.11), (0.45, 0.46, 0.48))
PLASTICS = (
    (0.92, 0.92, 0.90),
    (0.09, 0.09, 0.10),
    (0.78, 0.12, 0.10),
    (0.12, 0.33, 0.70),
    (0.93, 0.74, 0.15),
    (0.20, 0.55, 0.30),
    (0.95, 0.50, 0.55),
)
FABRICS = (
    (0.62, 0.14, 0.14),
    (0.16, 0.24, 0.52),
    (0.22, 0.42, 0.26),
    (0.45, 0.45, 0.47),
    (0.78, 0.70, 0.56),
    (0.80, 0.62, 0.18),
    (0.16, 0.48, 0.50),
    (0.20, 0.20, 0.22),
    (0.86, 0.42, 0.16),
    (0.40, 0.22, 0.45),
)
LEATHERS = ((0.08, 0.07, 0.07), (0.38, 0.21, 0.11), (0.86, 0.80, 0.68))
CASTER = Material((0.08, 0.08, 0.09), 0.3, 0.5)


def make_chair(draws: Draws) -> ObjectBuilder:
    """One random chair, drawn from `draws`."""
    frame, upholstery = _materials(draws)
    chair = ObjectBuilder()
    base = draws.choice(["legs", "swivel", "pedestal"], [6.0, 2.0, 1.0])
    seat_height = draws.uniform(0.40, 0.50)
    half_width = draws.uniform(0.19, 0.27)
    half_depth = draws.uniform(0.19, 0.26)
    thickness = draws.uniform(0.03, 0.10) if upholstery is not frame else draws.uniform(0.025, 0.05)
    seat_top = seat_height + thickness / 2
    chair.box(
        (0, seat_height, 0), (half_width, thickness / 2, half_depth), upholstery, draws.uniform(0.004, thickness / 2.5)
    )
    seat_bottom = seat_height - thickness / 2

    if base == "legs":
        _legs(chair, draws, frame, seat_bottom, half_width, half_depth)
    else:
        _swivel_or_pedestal(chair, draws, frame, seat_bottom, base == "pedestal")
    _back(chair, draws, frame, upholstery, seat_top, half_width, half_depth)
    if draws.chance(0.6 if base == "swivel" else 0.3):
        _armrests(chair, draws, frame, upholstery, seat_top, half_width, half_depth)
    return chair


def _materials(draws: Draws) -> tuple[Material, Material]:
    """(frame, upholstery) materials; the same object when the chair is all one material."""
    kind = draws.choice(["wood", "metal", "plastic"], [4.0, 3.0, 2.0])
    if kind == "wood":
        frame = Material(draws.jitter(draws.choice(WOODS), 0.05), draws.uniform(0.1, 0.3), 0.3)
    elif kind == "metal":
        frame = Material(draws.jitter(draws.choice(METALS), 0.03), draws.uniform(0.5, 0.9), 0.9)
    else:
        frame = Material(draws.jitter(draws.choice(PLASTICS), 0.05), draws.uniform(0.25, 0.45), 0.6)
    covering = draws.choice(["none", "fabric", "leather"], [4.0, 4.0, 1.5])
    if covering == "fabric":
        return frame, Material(draws.jitter(draws.choice(FABRICS), 0.06), 0.02, 0.0)
    if covering == "leather":
        return frame, Material(draws.jitter(draws.choice(LEATHERS), 0.03), 0.35, 0.5)
    return frame, frame


def _legs(
    chair: ObjectBuilder, draws: Draws, frame: Material, top: float, half_width: float, half_depth: float
) -> None:
    """Four legs (square or round, straight or splayed), optionally joined by stretchers."""
    size = draws.uniform(0.014, 0.028)
    inset = draws.uniform(0.0, 0.03)
    x = half_width - size - inset
    splay = draws.uniform(0.01, 0.05) if draws.chance(0.35) else 0.0
    round_legs = splay > 0 or draws.chance(0.5)
    for z in (half_depth - size - inset, -(half_depth - size - inset)):
        if round_legs:
            foot = (x + splay, size, z + math.copysign(splay, z))
            chair.cylinder((x, top, z), foot, size, frame, size / 2)
        else:
            chair.box((x, top / 2, z), (size, top / 2, size), frame, size / 3)
    if not splay and draws.chance(0.4):  # stretchers: along both sides and across the front
        height = top * draws.uniform(0.2, 0.4)
        rail = size * 0.6
        chair.box((x, height, 0), (rail, rail, half_depth - size - inset), frame, rail / 2)
        chair.box((0, height, half_depth - size - inset), (x, rail, rail), frame, rail / 2)


def _swivel_or_pedestal(chair: ObjectBuilder, draws: Draws, frame: Material, top: float, pedestal: bool) -> None:
    """A central column on a round foot (pedestal) or on four spokes (swivel)."""
    column = draws.uniform(0.02, 0.035)
    chair.cylinder((0, 0.04, 0), (0, top, 0), column, frame, column / 3)
    if pedestal:
        foot = draws.uniform(0.16, 0.24)
        chair.cylinder((0, 0, 0), (0, 0.025, 0), foot, frame, 0.01)
        return
    reach = draws.uniform(0.22, 0.30) / math.sqrt(2)
    spoke = draws.uniform(0.014, 0.022)
    chair.cylinder((0, 0, 0), (0, 0.07, 0), column * 1.4, frame, column / 3)  # hub under the column
    for z in (1, -1):
        start = (spoke, 0.05, z * spoke)
        chair.cylinder(start, (reach, 0.025, z * reach), spoke, frame, spoke / 2)
        chair.cylinder((reach, 0.0, z * reach), (reach, 0.03, z * reach), 0.022, CASTER, 0.008)


def _back(
    chair: ObjectBuilder,
    draws: Draws,
    frame: Material,
    upholstery: Material,
    seat_top: float,
    half_width: float,
    half_depth: float,
) -> None:
    """A backrest leaning back by a random tilt: solid, slats between posts, or rails between posts."""
    style = draws.choice(["solid", "slats", "ladder"], [3.0, 1.5, 1.5] if upholstery is frame else [5.0, 0.5, 0.5])
    tilt = draws.uniform(0.0, 16.0)
    height = draws.uniform(0.30, 0.50)
    thickness = draws.uniform(0.02, 0.07) if style == "solid" else draws.uniform(0.018, 0.03)
    back_width = half_width * draws.uniform(0.85, 1.0)
    pivot_z = -half_depth + thickness / 2

    def part(x: float, y: float, half_size: tuple[float, float, float], material: Material, rounding: float) -> None:
        """A box at height y above the seat in the tilted back's frame (x is not affected by tilt)."""
        cos, sin = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
        chair.box((x, seat_top + cos * y, pivot_z - sin * y), half_size, material, min(rounding, *half_size), tilt)

    if style == "solid":
        part(0, height / 2, (back_width, height / 2, thickness / 2), upholstery, draws.uniform(0.004, thickness / 2.2))
        return
    post = thickness * 0.8
    part(back_width - post, height / 2, (post, height / 2, thickness / 2), frame, post / 2.5)
    rail_height = draws.uniform(0.03, 0.07)
    part(
        0,
        height - rail_height / 2,
        (back_width - post, rail_height / 2, thickness / 2 * 0.8),
        upholstery,
        min(rail_height / 2, thickness / 2) * 0.5,
    )
    inner = height - rail_height
    if style == "slats":
        slat = draws.uniform(0.012, 0.025)
        part(0, inner / 2, (slat, inner / 2, thickness / 2 * 0.6), frame, slat / 3)
        part((back_width - post) / 2, inner / 2, (slat, inner / 2, thickness / 2 * 0.6), frame, slat / 3)
    else:
        for level in (0.3, 0.6):
            part(0, level * inner, (back_width - post, 0.012, thickness / 2 * 0.6), frame, 0.005)


def _armrests(
    chair: ObjectBuilder,
    draws: Draws,
    frame: Material,
    upholstery: Material,
    seat_top: float,
    half_width: float,
    half_depth: float,
) -> None:
    """An armrest on each side on a front support."""
    height = draws.uniform(0.17, 0.25)
    arm = draws.uniform(0.018, 0.03)
    x = half_width + draws.uniform(-arm, arm * 0.5)
    length = half_depth * draws.uniform(0.75, 0.95)
    centre_z = -half_depth + length
    chair.box(
        (x, seat_top + height, centre_z - length / 2 + 0.02),
        (arm, arm * 0.7, length / 2 + 0.02),
        upholstery if draws.chance(0.5) else frame,
        arm * 0.5,
    )
    support = arm * 0.6
    chair.box(
        (x, seat_top + height / 2 - 0.01, centre_z - support), (support, height / 2 + 0.01, support), frame, support / 2
    )
