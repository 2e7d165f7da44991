"""A sphere-tracing renderer for `Shapes`: RGBA images in the project's camera convention.

Per view: rays through pixel centres (`pix2nerf.rendering.cameras` convention: pixel centres on linspace(-1, 1) edge to
edge, y up) are clipped to the object's bounding box and to [near, far], sphere traced (converged and escaped rays leave
the batch), then shaded with a fixed world-space light: ambient sky light, a diffuse key and fill light and a soft
Blinn-Phong highlight. Pixels where the primitive seen by neighbouring pixels changes (silhouettes and material
boundaries) are supersampled with supersample x supersample rays; alpha is the covered fraction of those rays.

Only exact float operations (+, -, *, /, sqrt, min, max) touch per-ray values, so a pixel's bytes do not depend on
how rays are batched.
"""

from __future__ import annotations

import math

import torch

from pix2nerf.data.synthetic.shapes import Shapes, primitive_distance, signed_distance
from pix2nerf.rendering.cameras import camera_origins, degrees_to_official, look_at_cam2world

MAX_STEPS = 64  # sphere-tracing steps per ray at most
STEPS_PER_BLOCK = 4  # steps between removals of converged and escaped rays from the batch
TILE = 128  # rays per tile of one object in the sphere tracer
HIT_TOLERANCE = 0.5  # a ray hits when the distance falls below this fraction of a sample's footprint
NORMAL_STEP = 5e-4  # world units, for the tetrahedron finite-difference normal
KEY_LIGHT = (0.45, 0.8, 0.4)  # world direction towards the key light (normalised below)
FILL_LIGHT = (-0.6, 0.1, -0.5)
AMBIENT, KEY, FILL = 0.3, 0.9, 0.25  # light intensities (linear)
_TETRAHEDRON = ((1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (-1.0, 1.0, -1.0), (1.0, 1.0, 1.0))


def render_views(
    shapes: Shapes,
    yaw: torch.Tensor,
    pitch: torch.Tensor,
    resolution: int,
    fov: float,
    near: float,
    far: float,
    supersample: int = 2,
    chunk: int = 65536,
) -> torch.Tensor:
    """Render view i of object i: straight (not premultiplied) RGBA images (B, 4, H, W) in [0, 1].

    shapes: B objects; yaw, pitch (B,) degrees; resolution H = W pixels (>= 2); fov degrees; near, far: the depth
    range along unit rays from cameras on the unit sphere. Transparent pixels have RGB 1 (white). chunk: rays per
    sphere-tracing batch (bounds memory: ~0.5 KB per ray).
    """
    if resolution < 2 or supersample < 1:
        raise ValueError(f"render_views needs resolution >= 2 and supersample >= 1, got {resolution}, {supersample}")
    if not (len(shapes) == yaw.shape[0] == pitch.shape[0]):
        raise ValueError(
            f"one object per view: got {len(shapes)} objects, {yaw.shape[0]} yaws, {pitch.shape[0]} pitches"
        )
    device = shapes.device
    views = len(shapes)
    rotation, origin = (t.to(device) for t in _camera_frames(yaw.cpu().float(), pitch.cpu().float()))
    scale = math.tan(math.radians(fov) / 2)  # camera-space ray (x, y, -1) per unit of pixel coordinate x, y
    step = 2.0 / (resolution - 1)  # pixel spacing in pixel coordinates
    tolerance = HIT_TOLERANCE * scale * step / supersample
    trace = dict(
        shapes=shapes,
        rotation=rotation,
        origin=origin,
        scale=scale,
        near=near,
        far=far,
        tolerance=tolerance,
        chunk=chunk,
    )

    grid = torch.linspace(-1.0, 1.0, resolution, device=device)
    rows, cols = torch.meshgrid(
        torch.arange(resolution, device=device), torch.arange(resolution, device=device), indexing="ij"
    )
    centres = torch.stack([grid[cols], -grid[rows]], dim=-1).reshape(1, -1, 2)
    rgba, primitive = _render_samples(torch.arange(views, device=device), centres, **trace)
    rgba = rgba.reshape(views, resolution, resolution, 4)

    if supersample > 1:
        b, r, c = _edges(primitive.reshape(views, resolution, resolution)).nonzero(as_tuple=True)
        offsets = ((torch.arange(supersample, device=device) + 0.5) / supersample - 0.5) * step
        dy, dx = torch.meshgrid(-offsets, offsets, indexing="ij")
        sub = torch.stack([dx, dy], dim=-1).reshape(1, -1, 2)
        samples, _ = _render_samples(b, torch.stack([grid[c], -grid[r]], dim=-1)[:, None] + sub, **trace)
        coverage = samples[:, 0]
        for i in range(1, supersample**2):  # summed in a fixed order
            coverage = coverage + samples[:, i]
        rgba[b, r, c] = coverage / supersample**2

    alpha = rgba[..., 3:]
    rgb = torch.where(alpha > 0, rgba[..., :3] / alpha.clamp_min(1e-12), torch.ones_like(rgba[..., :3]))
    return torch.cat([rgb.clamp(0, 1), alpha], dim=-1).permute(0, 3, 1, 2).contiguous()


def _camera_frames(yaw: torch.Tensor, pitch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-to-world rotations (B, 3, 3) and camera centres (B, 3) for poses (B,) in degrees, on the CPU.

    One view at a time: vectorised sin and cos may round differently from the scalar ones, and a view's camera
    must not depend on its place in the batch (nor on the device that renders it)."""
    cam2world = torch.cat(
        [
            look_at_cam2world(camera_origins(*degrees_to_official(yaw[i : i + 1], pitch[i : i + 1])))
            for i in range(yaw.shape[0])
        ]
    )
    return cam2world[:, :3, :3], cam2world[:, :3, 3]


def _edges(primitive: torch.Tensor) -> torch.Tensor:
    """Pixels (B, H, W) that see another primitive (or background, -1) than a pixel next to them."""
    edge = torch.zeros_like(primitive, dtype=torch.bool)
    across = primitive[:, :, 1:] != primitive[:, :, :-1]
    edge[:, :, 1:] |= across
    edge[:, :, :-1] |= across
    down = primitive[:, 1:] != primitive[:, :-1]
    edge[:, 1:] |= down
    edge[:, :-1] |= down
    return edge


def _render_samples(
    view: torch.Tensor,
    points: torch.Tensor,
    shapes: Shapes,
    rotation: torch.Tensor,
    origin: torch.Tensor,
    scale: float,
    near: float,
    far: float,
    tolerance: float,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Premultiplied RGBA (G, N, 4) and primitive index (G, N) (-1: background) of N samples in each of G groups:
    group g looks through view view[g] (G,) at pixel coordinates points[g] (points: (G or 1, N, 2))."""
    x, y = points[..., 0] * scale, points[..., 1] * scale
    norm = (x * x + y * y + 1).sqrt()
    x, y, z = x / norm, y / norm, -1 / norm
    rot = rotation[view][..., None]  # (G, 3, 3, 1)
    dirs = torch.stack([rot[:, i, 0] * x + rot[:, i, 1] * y + rot[:, i, 2] * z for i in range(3)])  # (3, G, N)
    t_near, t_far = _clip(origin[view].t()[..., None], dirs, shapes.bounds[view], near, far)

    groups, samples = dirs.shape[1:]
    rgba = torch.zeros(groups * samples, 4, device=view.device)
    primitive = torch.full((groups * samples,), -1, dtype=torch.long, device=view.device)
    for rays in (t_near < t_far).view(-1).nonzero()[:, 0].split(chunk):
        obj = view[rays // samples]
        origins, ray_dirs = origin[obj].t(), dirs.view(3, -1)[:, rays]
        t, hit, seen = _sphere_trace(
            origins, ray_dirs, t_near.view(-1)[rays], t_far.view(-1)[rays], obj, shapes, tolerance
        )
        rays, obj, t, seen = rays[hit], obj[hit], t[hit], seen[hit]
        origins, ray_dirs = origins[:, hit], ray_dirs[:, hit]
        rgba[rays, :3], rgba[rays, 3] = _shade(origins + t * ray_dirs, ray_dirs, obj, seen, shapes), 1.0
        primitive[rays] = seen
    return rgba.view(groups, samples, 4), primitive.view(groups, samples)


def _clip(
    origins: torch.Tensor, dirs: torch.Tensor, bounds: torch.Tensor, near: float, far: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit depths (G, N) of rays from origins (3, G, 1) along dirs (3, G, N) into the boxes bounds
    (G, 2, 3), within [near, far]. A ray misses when entry >= exit."""
    t_near = torch.full_like(dirs[0], near)
    t_far = torch.full_like(dirs[0], far)
    for axis in range(3):
        d = dirs[axis]
        d = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
        a = (bounds[:, 0, axis, None] - origins[axis]) / d
        b = (bounds[:, 1, axis, None] - origins[axis]) / d
        t_near = torch.maximum(t_near, torch.minimum(a, b))
        t_far = torch.minimum(t_far, torch.maximum(a, b))
    return t_near, t_far


def _sphere_trace(
    origins: torch.Tensor,
    dirs: torch.Tensor,
    t: torch.Tensor,
    t_far: torch.Tensor,
    obj: torch.Tensor,
    shapes: Shapes,
    tolerance: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """March rays (origins, dirs (3, R)) of objects obj (R,) from depth t (R,) until the distance falls below
    tolerance * t (a hit) or t passes t_far (a miss). obj must be sorted.

    Rays are laid out in tiles of TILE rays of one object, so that each tile's primitives broadcast over its rays
    instead of being copied per ray. Returns the final depths (R,), the hit mask (R,) and the nearest primitive
    at the last step (R,) (an index into `signed_distance`'s rows). Rays still undecided after MAX_STEPS count
    as misses.
    """
    t = t.clone()
    hit = torch.zeros_like(t, dtype=torch.bool)
    primitive = torch.zeros_like(t, dtype=torch.long)
    live = torch.arange(t.shape[0], device=t.device)
    for _ in range(MAX_STEPS // STEPS_PER_BLOCK):
        slots, tile_obj = _tiles(obj[live], len(shapes))
        ox, oy, oz, dx, dy, dz, depth = (
            _scatter(v, slots, tile_obj.shape[0]) for v in (*origins[:, live], *dirs[:, live], t[live])
        )
        boxes, cylinders = (p[..., None] for p in shapes.per_point(tile_obj))
        for _ in range(STEPS_PER_BLOCK):
            points = ox + depth * dx, oy + depth * dy, oz + depth * dz
            distance, nearest = signed_distance(*points, boxes, cylinders, shapes.tilted).min(0)
            depth = depth + distance
        depth, distance = depth.view(-1)[slots], distance.view(-1)[slots]
        t[live], primitive[live] = depth, nearest.view(-1)[slots]
        converged = distance < tolerance * depth
        hit[live[converged]] = True
        live = live[~converged & (depth < t_far[live])]
        if live.numel() == 0:
            break
    return t, hit, primitive


def _tiles(obj: torch.Tensor, num_objects: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Slots (R,) of sorted rays of objects obj (R,) in tiles (T, TILE) that each hold rays of one object, and
    the object of each tile (T,)."""
    counts = torch.bincount(obj, minlength=num_objects)
    tiles = (counts + TILE - 1) // TILE
    first_ray = counts.cumsum(0) - counts
    first_tile = tiles.cumsum(0) - tiles
    rank = torch.arange(obj.shape[0], device=obj.device) - first_ray[obj]
    slots = (first_tile[obj] + rank // TILE) * TILE + rank % TILE
    return slots, torch.repeat_interleave(torch.arange(num_objects, device=obj.device), tiles)


def _scatter(values: torch.Tensor, slots: torch.Tensor, num_tiles: int) -> torch.Tensor:
    """values (R,) placed at their slots in tiles (T, TILE); unused slots hold 0."""
    tiled = values.new_zeros(num_tiles * TILE)
    tiled[slots] = values
    return tiled.view(num_tiles, TILE)


def _shade(
    points: torch.Tensor, dirs: torch.Tensor, obj: torch.Tensor, primitive: torch.Tensor, shapes: Shapes
) -> torch.Tensor:
    """Display-space colours (R, 3) in [0, 1] of surface points (3, R) of primitives `primitive` (R,) of objects
    obj (R,), seen along unit directions dirs (3, R)."""
    picked = shapes.pick(obj, primitive)
    normal = torch.zeros_like(points)
    for corner in _TETRAHEDRON:  # the gradient of the primitive seen, by finite differences
        k = torch.tensor(corner, device=points.device)[:, None]
        normal = normal + k * primitive_distance(*(points + NORMAL_STEP * k), picked, shapes.tilted)
    normal = _normalise(normal)
    material = shapes.materials[obj, primitive].t()  # (MATERIAL_PARAMS, R)
    rgb, specular, gloss = material[:3], material[3], material[4]
    albedo = rgb * rgb  # display -> linear (gamma 2)

    key, fill = _direction(KEY_LIGHT, points), _direction(FILL_LIGHT, points)
    diffuse_key = _dot(normal, key).clamp_min(0)
    light = AMBIENT * (0.6 + 0.4 * normal[1]) + KEY * diffuse_key + FILL * _dot(normal, fill).clamp_min(0)
    half = _dot(normal, _normalise(key - dirs)).clamp_min(0)
    broad = half * half
    broad = broad * broad
    broad = broad * broad  # half ** 8
    tight = broad * broad
    tight = tight * tight  # half ** 32
    highlight = specular * ((1 - gloss) * broad + gloss * tight) * diffuse_key
    return (albedo * light + highlight).clamp(0, 1).sqrt().t()


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dot products (R,) of vectors (3, R)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _normalise(v: torch.Tensor) -> torch.Tensor:
    return v / _dot(v, v).sqrt().clamp_min(1e-12)


def _direction(xyz: tuple[float, float, float], like: torch.Tensor) -> torch.Tensor:
    """The unit vector along xyz, broadcast like `like` (3, R)."""
    return _normalise(torch.tensor(xyz, device=like.device, dtype=like.dtype)[:, None]).expand_as(like)
