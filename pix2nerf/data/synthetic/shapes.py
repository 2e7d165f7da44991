"""Objects made of signed-distance primitives: rounded boxes and rounded cylinders with simple materials.

Units are world units of the camera convention (the camera sits on the unit sphere). Every object is mirror
symmetric about the x = 0 plane: the distance function folds x to |x|, so a primitive either lies on the x >= 0
side (its mirror image comes for free: the second wheel, the other armrest) or is itself symmetric about x = 0.

One object is described with `ObjectBuilder`; `Shapes.stack` packs many into padded tensors that
`signed_distance` evaluates for batches of points, each point belonging to one object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

BOX_PARAMS = 9  # centre (3), half-size minus rounding (3), rounding, cos(tilt), sin(tilt)
CYLINDER_PARAMS = 9  # centre (3), unit axis (3), half-length minus rounding, radius minus rounding, rounding
MATERIAL_PARAMS = 5  # display-space RGB in [0, 1] (3), specular strength, gloss in [0, 1]
_ABSENT = 1e3  # padding primitives sit this far away, so they never win the union
_SYMMETRY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Material:
    """Surface appearance: display-space colour in [0, 1], specular strength (>= 0) and gloss in [0, 1].

    gloss 0 gives a broad highlight (exponent 8), gloss 1 a tight one (exponent 32).
    """

    rgb: tuple[float, float, float]
    specular: float = 0.1
    gloss: float = 0.5

    def as_list(self) -> list[float]:
        return [*self.rgb, self.specular, self.gloss]


@dataclass
class ObjectBuilder:
    """Collects the primitives of one object. Positions and sizes are world units; angles degrees."""

    boxes: list[list[float]] = field(default_factory=list)  # centre, half-size, rounding, tilt (degrees)
    cylinders: list[list[float]] = field(default_factory=list)  # start, end, radius, rounding
    box_materials: list[Material] = field(default_factory=list)
    cylinder_materials: list[Material] = field(default_factory=list)

    def box(
        self,
        centre: tuple[float, float, float],
        half_size: tuple[float, float, float],
        material: Material,
        rounding: float = 0.0,
        tilt: float = 0.0,
    ) -> None:
        """A box with edges rounded by `rounding`, turned by `tilt` degrees about the x axis through its centre.

        Positive tilt leans the box's top (+y) backwards, towards -z. half_size includes the rounding.
        """
        if min(half_size) <= 0 or not 0 <= rounding <= min(half_size):
            raise ValueError(f"box needs positive half sizes and 0 <= rounding <= them, got {half_size}, {rounding}")
        self.boxes.append([*centre, *half_size, rounding, tilt])
        self.box_materials.append(material)

    def cylinder(
        self,
        start: tuple[float, float, float],
        end: tuple[float, float, float],
        radius: float,
        material: Material,
        rounding: float = 0.0,
    ) -> None:
        """A solid cylinder from `start` to `end` (its flat caps' centres), edges rounded by `rounding`."""
        length = math.dist(start, end)
        if radius <= 0 or length <= 0 or not 0 <= rounding <= min(radius, length / 2):
            raise ValueError(f"cylinder needs radius > 0, start != end and small rounding, got {radius}, {rounding}")
        self.cylinders.append([*start, *end, radius, rounding])
        self.cylinder_materials.append(material)

    def corners(self) -> torch.Tensor:
        """Points (M, 3), float64, whose convex hull holds the object's x >= 0 half (unmirrored primitives)."""
        points = []
        for cx, cy, cz, hx, hy, hz, _, tilt in self.boxes:
            cos, sin = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
            for sx in (-1, 1):
                for sy in (-1, 1):
                    for sz in (-1, 1):
                        ly, lz = sy * hy, sz * hz
                        points.append([cx + sx * hx, cy + cos * ly + sin * lz, cz - sin * ly + cos * lz])
        for *ends, radius, _ in self.cylinders:
            for end in (ends[:3], ends[3:]):  # each cap lies in the cube of half-size `radius` around its centre
                for sx in (-1, 1):
                    for sy in (-1, 1):
                        for sz in (-1, 1):
                            points.append([end[0] + sx * radius, end[1] + sy * radius, end[2] + sz * radius])
        return torch.tensor(points, dtype=torch.float64)

    def transformed(self, scale: float, offset: tuple[float, float, float]) -> ObjectBuilder:
        """The object scaled by `scale` about the origin, then moved by `offset` (offset[0] must be 0)."""
        if offset[0] != 0:
            raise ValueError("objects stay symmetric about x = 0: offset[0] must be 0")
        boxes = [
            [*(scale * c + o for c, o in zip(b[:3], offset)), *(scale * v for v in b[3:7]), b[7]] for b in self.boxes
        ]
        cylinders = [
            [
                *(scale * c + o for c, o in zip(cy[:3], offset)),
                *(scale * c + o for c, o in zip(cy[3:6], offset)),
                scale * cy[6],
                scale * cy[7],
            ]
            for cy in self.cylinders
        ]
        return ObjectBuilder(boxes, cylinders, list(self.box_materials), list(self.cylinder_materials))

    def fitted(self, radius: float) -> ObjectBuilder:
        """The object centred on its bounding box (in y and z) and shrunk, if needed, into a sphere of `radius`."""
        corners = self.corners()
        centre = (corners.amin(0) + corners.amax(0)) / 2
        centre[0] = 0.0
        extent = (corners - centre).norm(dim=-1).max().item()
        scale = min(1.0, radius / extent)
        return self.transformed(scale, tuple((-scale * centre).tolist()))

    def check_symmetry(self) -> None:
        """Raise ValueError for a primitive that straddles x = 0 without being symmetric about it."""
        tol = _SYMMETRY_TOLERANCE
        for cx, hx in ((b[0], b[3]) for b in self.boxes):
            if abs(cx) > tol and cx - hx < -tol:
                raise ValueError(f"a box at x = {cx} with half width {hx} crosses the x = 0 mirror plane")
        for cylinder in self.cylinders:
            start, end, radius = cylinder[:3], cylinder[3:6], cylinder[6]
            in_plane = abs(start[0]) <= tol and abs(end[0]) <= tol
            across = abs(start[0] + end[0]) <= tol and math.dist(start[1:], end[1:]) <= tol
            spread = radius * math.sqrt(max(0.0, 1 - ((end[0] - start[0]) / math.dist(start, end)) ** 2))
            if not (in_plane or across) and min(start[0], end[0]) - spread < -tol:
                raise ValueError(f"a cylinder from x = {start[0]} to {end[0]} crosses the x = 0 mirror plane")


@dataclass
class Shapes:
    """N objects packed for evaluation; primitive slots beyond an object's own count are far-away padding.

    boxes (BOX_PARAMS, Pb, N) and cylinders (CYLINDER_PARAMS, Pc, N) are object-last, as `signed_distance` takes
    them per point; materials (N, Pb + Pc, MATERIAL_PARAMS) (boxes first); bounds (N, 2, 3): the axis-aligned
    box (min, max) holding each whole object; tilted: whether any box is tilted.
    """

    boxes: torch.Tensor
    cylinders: torch.Tensor
    materials: torch.Tensor
    bounds: torch.Tensor
    tilted: bool

    def __len__(self) -> int:
        return self.bounds.shape[0]

    @property
    def device(self) -> torch.device:
        return self.bounds.device

    def select(self, index: torch.Tensor) -> Shapes:
        """The objects at `index` (K,), repeats allowed."""
        boxes, cylinders = self.per_point(index)
        return Shapes(boxes, cylinders, self.materials[index], self.bounds[index], self.tilted)

    def per_point(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The primitives of the objects at `index` (R,): (BOX_PARAMS, Pb, R), (CYLINDER_PARAMS, Pc, R)."""
        return self.boxes.index_select(-1, index), self.cylinders.index_select(-1, index)

    def pick(self, index: torch.Tensor, primitive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One primitive per point, for `primitive_distance`: primitive (R,) of object index (R,), numbered as the
        rows of `signed_distance` (boxes, then cylinders). Returns its box (BOX_PARAMS, 1, R) and cylinder
        (CYLINDER_PARAMS, 1, R) (one of the two is a stand-in) and whether it is a box (R,)."""
        num_boxes = self.boxes.shape[1]
        box = self.boxes[:, primitive.clamp_max(num_boxes - 1), index]
        cylinder = self.cylinders[:, (primitive - num_boxes).clamp_min(0), index]
        return box[:, None], cylinder[:, None], primitive < num_boxes

    @classmethod
    def stack(cls, objects: list[ObjectBuilder], device: torch.device | str = "cpu") -> Shapes:
        """Pack objects into float32 tensors on `device`, padding every object to the largest primitive counts."""
        if not objects:
            raise ValueError("Shapes.stack needs at least one object")
        num_boxes = max(1, *(len(o.boxes) for o in objects))  # at least one slot of each kind, maybe padding
        num_cylinders = max(1, *(len(o.cylinders) for o in objects))
        boxes = torch.zeros(len(objects), num_boxes, BOX_PARAMS, dtype=torch.float64)
        cylinders = torch.zeros(len(objects), num_cylinders, CYLINDER_PARAMS, dtype=torch.float64)
        materials = torch.zeros(len(objects), num_boxes + num_cylinders, MATERIAL_PARAMS, dtype=torch.float64)
        bounds = torch.zeros(len(objects), 2, 3, dtype=torch.float64)
        boxes[..., 1] = cylinders[..., 1] = _ABSENT
        boxes[..., 3:6] = cylinders[..., 6:8] = 1e-3
        boxes[..., 7] = cylinders[..., 5] = 1.0  # cos(tilt), axis
        for i, obj in enumerate(objects):
            obj.check_symmetry()
            if obj.boxes:
                boxes[i, : len(obj.boxes)] = _pack_boxes(torch.tensor(obj.boxes, dtype=torch.float64))
                materials[i, : len(obj.boxes)] = torch.tensor([m.as_list() for m in obj.box_materials])
            if obj.cylinders:
                cylinders[i, : len(obj.cylinders)] = _pack_cylinders(torch.tensor(obj.cylinders, dtype=torch.float64))
                materials[i, num_boxes : num_boxes + len(obj.cylinders)] = torch.tensor(
                    [m.as_list() for m in obj.cylinder_materials]
                )
            corners = obj.corners()
            reach = corners[:, 0].abs().max()
            bounds[i, 0], bounds[i, 1] = corners.amin(0), corners.amax(0)
            bounds[i, 0, 0], bounds[i, 1, 0] = -reach, reach
        tilted = bool(boxes[..., 8].ne(0).any())
        boxes, cylinders = boxes.permute(2, 1, 0), cylinders.permute(2, 1, 0)
        packed = (t.to(device=device, dtype=torch.float32).contiguous() for t in (boxes, cylinders, materials, bounds))
        return cls(*packed, tilted)


def _pack_boxes(raw: torch.Tensor) -> torch.Tensor:
    """(P, 8) centre, half-size, rounding, tilt degrees -> (P, BOX_PARAMS) evaluation parameters."""
    centre, half, rounding, tilt = raw[:, :3], raw[:, 3:6], raw[:, 6:7], torch.deg2rad(raw[:, 7:8])
    return torch.cat([centre, half - rounding, rounding, torch.cos(tilt), torch.sin(tilt)], dim=-1)


def _pack_cylinders(raw: torch.Tensor) -> torch.Tensor:
    """(P, 8) start, end, radius, rounding -> (P, CYLINDER_PARAMS) evaluation parameters."""
    start, end, radius, rounding = raw[:, :3], raw[:, 3:6], raw[:, 6:7], raw[:, 7:8]
    axis = end - start
    half_length = axis.norm(dim=-1, keepdim=True) / 2
    centre, unit = (start + end) / 2, axis / (2 * half_length)
    return torch.cat([centre, unit, half_length - rounding, radius - rounding, rounding], -1)


def signed_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    z: torch.Tensor,
    boxes: torch.Tensor,
    cylinders: torch.Tensor,
    tilted: bool = True,
) -> torch.Tensor:
    """Signed distances (Pb + Pc, R) from points (x, y, z each (R,)) to each primitive of their own object.

    boxes (BOX_PARAMS, Pb, R) and cylinders (CYLINDER_PARAMS, Pc, R) are the packed primitives of each point's
    object (`Shapes.per_point`). tilted=False skips the box rotation, for batches without tilted boxes (the
    result is the same). Exact outside every primitive, so the minimum over primitives is a safe sphere-tracing
    step. Only exact float operations are used (no transcendental functions), so a point's distances do not
    depend on how points are batched.
    """
    x = x.abs()  # the x = 0 mirror
    return torch.cat([_box_distance(x, y, z, boxes, tilted), _cylinder_distance(x, y, z, cylinders)])


def primitive_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    z: torch.Tensor,
    picked: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    tilted: bool = True,
) -> torch.Tensor:
    """Signed distances (R,) from points (x, y, z each (R,)) to the primitives that `Shapes.pick` picked."""
    box, cylinder, is_box = picked
    x = x.abs()
    return torch.where(is_box, _box_distance(x, y, z, box, tilted)[0], _cylinder_distance(x, y, z, cylinder)[0])


def _box_distance(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, boxes: torch.Tensor, tilted: bool) -> torch.Tensor:
    cx, cy, cz, hx, hy, hz, rounding, cos, sin = boxes
    qx = (x - cx).abs_().sub_(hx)
    if tilted:
        dy, dz = y - cy, z - cz
        qy = (cos * dy).sub_(sin * dz).abs_().sub_(hy)
        qz = (sin * dy).add_(cos * dz).abs_().sub_(hz)
    else:
        qy = (y - cy).abs_().sub_(hy)
        qz = (z - cz).abs_().sub_(hz)
    return _rounded_corner(qx, qy, qz).sub_(rounding)


def _cylinder_distance(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, cylinders: torch.Tensor) -> torch.Tensor:
    cx, cy, cz, ax, ay, az, half_length, radius, rounding = cylinders
    dx, dy, dz = x - cx, y - cy, z - cz
    along = (dx * ax).add_(dy * ay).add_(dz * az)
    radial = dx.mul_(dx).add_(dy.mul_(dy)).add_(dz.mul_(dz)).sub_(along * along).clamp_min_(0).sqrt_()
    return _rounded_corner(radial.sub_(radius), along.abs_().sub_(half_length)).sub_(rounding)


def _rounded_corner(*q: torch.Tensor) -> torch.Tensor:
    """Distance to a box corner from per-axis excesses q_i: length(max(q, 0)) + min(max_i q_i, 0)."""
    inside = q[0]
    for qi in q[1:]:
        inside = torch.maximum(inside, qi)
    inside = inside.clamp_max(0)
    outside = None
    for qi in q:
        qi = qi.clamp_min_(0)
        outside = qi * qi if outside is None else outside.add_(qi * qi)
    return outside.sqrt_().add_(inside)
