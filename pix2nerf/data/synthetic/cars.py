"""Procedural cars: body, glass cabin with a painted roof, wheels with hubs, bumpers, head- and taillights.

Natural units before fitting (`ObjectBuilder.fitted`): the ground is y = 0, the front faces +z, x >= 0 is the
car's left-hand side as seen from the front camera's right (mirrored to the other side).
"""

from __future__ import annotations

from pix2nerf.data.synthetic.draws import Draws
from pix2nerf.data.synthetic.shapes import Material, ObjectBuilder

# (display-space colour, weight): a market-like mix of paints
PAINTS = (
    ((0.92, 0.92, 0.92), 3.0),
    ((0.07, 0.07, 0.08), 3.0),
    ((0.62, 0.63, 0.65), 3.0),
    ((0.34, 0.35, 0.37), 2.0),
    ((0.72, 0.07, 0.06), 2.0),
    ((0.10, 0.22, 0.58), 2.0),
    ((0.06, 0.09, 0.24), 1.0),
    ((0.10, 0.36, 0.16), 1.0),
    ((0.92, 0.76, 0.10), 0.7),
    ((0.92, 0.42, 0.05), 0.6),
    ((0.45, 0.29, 0.17), 0.6),
    ((0.76, 0.68, 0.52), 0.6),
    ((0.28, 0.60, 0.70), 0.5),
)
# style: (cabin length / car length, cabin centre offset / car length, cabin height, body height, wheel radius)
# ranges, each (low, high), in natural units (car length ~0.5)
STYLES = {
    "sedan": ((0.42, 0.52), (-0.08, -0.03), (0.055, 0.070), (0.070, 0.085), (0.045, 0.055)),
    "hatchback": ((0.50, 0.60), (-0.20, -0.14), (0.060, 0.075), (0.070, 0.085), (0.045, 0.052)),
    "suv": ((0.55, 0.65), (-0.17, -0.12), (0.070, 0.085), (0.090, 0.110), (0.055, 0.065)),
    "sports": ((0.32, 0.40), (-0.10, -0.04), (0.040, 0.050), (0.060, 0.070), (0.048, 0.056)),
    "pickup": ((0.26, 0.32), (0.00, 0.06), (0.065, 0.080), (0.085, 0.100), (0.052, 0.062)),
    "van": ((0.74, 0.82), (-0.09, -0.06), (0.090, 0.110), (0.080, 0.095), (0.045, 0.052)),
}
STYLE_WEIGHTS = {"sedan": 3.0, "hatchback": 2.0, "suv": 2.0, "sports": 1.0, "pickup": 1.0, "van": 1.0}


def make_car(draws: Draws) -> ObjectBuilder:
    """One random car, drawn from `draws`."""
    style = draws.choice(list(STYLES), list(STYLE_WEIGHTS.values()))
    cabin_fraction, cabin_offset, cabin_height, body_height, wheel_radius = (
        draws.uniform(*span) for span in STYLES[style]
    )
    length = draws.uniform(0.46, 0.54)
    half_width = length * draws.uniform(0.19, 0.23)
    car = ObjectBuilder()

    paint = Material(draws.jitter(draws.choice(*zip(*PAINTS)), 0.04), draws.uniform(0.3, 0.6), draws.uniform(0.6, 0.9))
    roof_paint = paint
    if draws.chance(0.3):  # two-tone: a contrasting roof
        roof_paint = Material(draws.choice([(0.06, 0.06, 0.07), (0.92, 0.92, 0.92), (0.62, 0.63, 0.65)]), 0.4, 0.8)
    glass = Material(draws.jitter((0.10, 0.12, 0.15), 0.03), 0.8, 1.0)
    trim = paint if draws.chance(0.5) else Material(draws.jitter((0.13, 0.13, 0.14), 0.03), 0.1, 0.2)

    # body: from above the wheel centres' lower half to the belt line
    bottom = wheel_radius * draws.uniform(0.45, 0.7)
    belt = bottom + body_height
    body_rounding = draws.uniform(0.012, 0.025)
    car.box((0, (bottom + belt) / 2, 0), (half_width, body_height / 2, length / 2), paint, body_rounding)

    # glass cabin with a painted roof (and a B-pillar)
    cabin_half_length = cabin_fraction * length / 2
    cabin_z = cabin_offset * length
    cabin_half_width = half_width - draws.uniform(0.008, 0.016)
    roof_thickness = draws.uniform(0.010, 0.016)
    cabin_top = belt + cabin_height
    cabin_rounding = draws.uniform(0.015, min(0.028, cabin_height / 2))
    car.box(
        (0, belt + cabin_height / 2 - 0.004, cabin_z),
        (cabin_half_width, cabin_height / 2 + 0.004, cabin_half_length),
        glass,
        cabin_rounding,
    )
    roof_half_length = cabin_half_length - 0.6 * cabin_rounding
    car.box(
        (0, cabin_top - roof_thickness / 2 + 0.002, cabin_z),
        (cabin_half_width + 0.001, roof_thickness / 2, roof_half_length),
        roof_paint,
        min(0.008, roof_thickness / 2),
    )
    if style in ("sedan", "suv", "hatchback", "van") and draws.chance(0.8):
        car.box(
            (0, belt + cabin_height / 2, cabin_z + draws.uniform(-0.2, 0.2) * cabin_half_length),
            (cabin_half_width + 0.002, cabin_height / 2, 0.008),
            roof_paint,
            0.002,
        )
    if style == "pickup":  # the load bed seen from above: a dark cover behind the cabin
        bed_front = cabin_z - cabin_half_length - 0.01
        bed_back = -length / 2 + 0.02
        car.box(
            (0, belt, (bed_front + bed_back) / 2),
            (half_width - 0.012, 0.004, (bed_front - bed_back) / 2),
            Material((0.12, 0.12, 0.12), 0.05, 0.0),
            0.002,
        )

    # bumpers, grille and lights
    bumper_height = draws.uniform(0.012, 0.02)
    for side in (1, -1):
        car.box(
            (0, bottom + bumper_height, side * (length / 2 + 0.004)),
            (half_width + 0.002, bumper_height, 0.012),
            trim,
            min(0.008, bumper_height),
        )
    light_half_width = half_width * draws.uniform(0.16, 0.26)
    light_x = half_width - light_half_width - draws.uniform(0.008, 0.016)
    light_y = belt - draws.uniform(0.015, 0.025)
    light_half_height = draws.uniform(0.006, 0.010)
    headlight = Material(draws.jitter((0.96, 0.95, 0.86), 0.03), 0.6, 1.0)
    taillight = Material(draws.jitter((0.80, 0.06, 0.05), 0.06), 0.5, 1.0)
    car.box((light_x, light_y, length / 2 - 0.002), (light_half_width, light_half_height, 0.006), headlight, 0.003)
    car.box((light_x, light_y, -length / 2 + 0.002), (light_half_width, light_half_height, 0.006), taillight, 0.003)
    if draws.chance(0.7):
        grille_half_width = max(0.01, light_x - light_half_width - 0.006)
        car.box(
            (0, light_y - 0.004, length / 2),
            (grille_half_width, light_half_height + 0.004, 0.004),
            Material((0.08, 0.08, 0.09), 0.3, 0.5),
            0.002,
        )

    # wheels: tyres with hubs, at both axles
    tyre = Material(draws.jitter((0.07, 0.07, 0.07), 0.02), 0.05, 0.0)
    hub = Material(draws.choice([(0.72, 0.73, 0.75), (0.20, 0.20, 0.22), paint.rgb]), 0.6, 0.8)
    tyre_width = draws.uniform(0.028, 0.04)
    outer = half_width + draws.uniform(0.0, 0.006)
    wheelbase_front = length / 2 - length * draws.uniform(0.15, 0.21)
    wheelbase_rear = -length / 2 + length * draws.uniform(0.15, 0.21)
    for z in (wheelbase_front, wheelbase_rear):
        car.cylinder((outer - tyre_width, wheel_radius, z), (outer, wheel_radius, z), wheel_radius, tyre, 0.008)
        car.cylinder(
            (outer - 0.004, wheel_radius, z), (outer + 0.002, wheel_radius, z), wheel_radius * 0.55, hub, 0.002
        )
    return car
