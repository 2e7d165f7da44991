"""Fast novel views of one latent on a CPU: the radiance field baked onto a grid once, then ray-marched cheaply.

Data flow: latent -> the field's `point_function` (the field of that latent, view locked) ->
`bake` (a coarse lattice everywhere, the fine lattice only where there is visible density) -> `BakedField`
(rgb and raw sigma on a regular lattice, read trilinearly) -> `BakedField.render` (the model's own coarse +
importance sampler and integration, `pix2nerf.rendering.volume.render_rays`, reading the grid instead of the network)
-> `RenderOutput`.

View dependence is locked (direction (0, 0, -1)), as in `Pix2NeRF.render`'s default, so colour is a function of
position only. World units: the camera sits at radius 1; the grid spans the cube [-half_size, half_size]^3 and
the field is taken as empty outside it. `pix2nerf.preview.animation` makes turntables; `pix2nerf.serving.service`
keeps baked fields per uploaded image for the app.

The lattice is stored as a 2D atlas of its z slices, because the CPU's 2D bilinear `grid_sample` is several
times faster than its 3D trilinear one: a trilinear read is two bilinear reads in adjacent slices and a lerp.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.fields.base import PointFunction
from pix2nerf.limits import check_degrees, check_int
from pix2nerf.limits import current as current_limits
from pix2nerf.model import Pix2NeRF
from pix2nerf.outputs import LOCKED_VIEW_DIRECTION, Latent, RenderOutput, check_latents
from pix2nerf.preview.region import ViewRegion
from pix2nerf.rendering.cameras import degrees_tensor, scene_half_size, world_rays, zoomed_fov
from pix2nerf.rendering.volume import RaySamplingSettings, render_rays_in_chunks

DEFAULT_BAKE_RESOLUTION = 192  # fine cells per axis where there is matter (bricks)
DEFAULT_BRICK = 3  # fine cells per coarse cell edge: 64 coarse cells per axis by default
LEVEL0_STEP = 2  # the first pass evaluates every 2nd coarse lattice point
BRICK_DILATION = 1  # cells around those that the lattice interpolates badly get bricks too
DETAIL_OPTICAL_DEPTH = 0.05  # a cell's lattice interpolation is bad when the optical depth across it is off by this
DETAIL_COLOR = 0.02  # ... or a colour channel times the cell's opacity is off by this
REFINE_DENSITY = 1.0  # cells with a corner above this raw sigma get refined
HIDDEN_OPTICAL_DEPTH = 8.0  # cells behind this optical depth from every side (transmittance < e^-8) are not refined
PROGRESS_POINTS = 2**18  # network evaluations between two progress reports of a bake
# the share of a bake's progress that each of its passes reports on: level 0, level 1, the detail test, level 2
PASS_PROGRESS = (0.05, 0.45, 0.1, 0.4)
MAX_POINTS_PER_RENDER_CHUNK = 2**21  # grid reads per ray chunk in BakedField.render (bounded memory)


def default_half_size(config: Pix2NeRFConfig) -> float:
    """Half edge (world units) of the cube holding every point the model's renderer samples (`scene_half_size`)."""
    return scene_half_size(config.fov, config.ray_start, config.ray_end)


def _slice_atlas(values: torch.Tensor, columns: int) -> torch.Tensor:
    """(4, S, Y, X) slices -> (1, 4, rows * Y, columns * X): slice s in tile (s // columns, s % columns)."""
    slices, height, width = values.shape[1:]
    rows = -(-slices // columns)
    tiles = F.pad(values, (0, 0, 0, 0, 0, rows * columns - slices)).reshape(4, rows, columns, height, width)
    return tiles.permute(0, 1, 3, 2, 4).reshape(1, 4, rows * height, columns * width).contiguous()


def _atlas_read(
    atlas: torch.Tensor,
    low: tuple[torch.Tensor, torch.Tensor],
    high: tuple[torch.Tensor, torch.Tensor],
    fraction: torch.Tensor,
) -> torch.Tensor:
    """Values (M, 4): bilinear reads at pixel coordinates low = (x, y) and high = (x, y), (M,) each, in two
    slices of an atlas, mixed linearly by `fraction` (M,) (0: low, 1: high)."""
    height, width = atlas.shape[-2:]
    grid_x = torch.stack([low[0], high[0]]) * (2 / (width - 1)) - 1
    grid_y = torch.stack([low[1], high[1]]) * (2 / (height - 1)) - 1
    sampled = F.grid_sample(
        atlas, torch.stack([grid_x, grid_y], -1)[None], mode="bilinear", padding_mode="border", align_corners=True
    )[0]
    below, above = sampled[:, 0].t(), sampled[:, 1].t()
    return below + (above - below) * fraction[:, None]


@dataclass
class BakedField:
    """The locked-view radiance field of one latent, sampled on a two-level sparse grid over the cube
    [-half_size, half_size]^3 (outside it the field reads as empty). Channels are (r, g, b, raw sigma), rgb in [0, 1].

    lattice: the corners of cells x cells x cells cells, as an atlas of its cells + 1 z slices (`_slice_atlas`).
    bricks: cells that need more detail hold a brick of brick^3 finer cells; brick i's (brick + 1)^3 corner values
    lie in tile (i // brick_columns, i % brick_columns) of this atlas, its z slices side by side.
    cell_state: (cells, cells, cells) int32 indexed (z, y, x): -1 empty (reads skipped), 0 read from the lattice,
    i + 1 read from brick i.
    settings: the model's sampler (near, far, num_steps, background) that `render` reproduces; fov in degrees.
    yaw_offset: the model's config.yaw_offset (degrees), added to the yaws `render` takes, as `Pix2NeRF.render` does.
    region: where the model's cameras see (meshes keep only that), or None for everywhere.
    """

    lattice: torch.Tensor
    bricks: torch.Tensor
    cell_state: torch.Tensor
    brick: int
    half_size: float
    fov: float
    settings: RaySamplingSettings
    latent: Latent | None = None
    yaw_offset: float = 0.0
    region: ViewRegion | None = None

    @property
    def cells(self) -> int:
        """Coarse cells per axis."""
        return self.cell_state.shape[0]

    @property
    def resolution(self) -> int:
        """Fine cells per axis, where bricks are."""
        return self.cells * self.brick

    @property
    def spacing(self) -> float:
        """Edge of a fine cell, in world units."""
        return 2 * self.half_size / self.resolution

    @property
    def num_bricks(self) -> int:
        return int((self.cell_state > 0).sum())

    @property
    def nbytes(self) -> int:
        """Memory held by the grid tensors, in bytes."""
        return sum(t.numel() * t.element_size() for t in (self.lattice, self.bricks, self.cell_state))

    def query(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trilinear rgb (..., 3) in [0, 1] and raw sigma (...) at world points (..., 3); empty cells and points
        outside the cube read as rgb 0, sigma 0."""
        shape, flat = points.shape[:-1], points.reshape(-1, 3)
        cells = self.cells
        coords = (flat / self.half_size + 1) * (0.5 * cells)  # in cell units, [0, cells] inside the cube
        cell = coords.floor().long()
        inside = ((cell >= 0) & (cell < cells)).all(-1)
        cell = cell.clamp_(0, cells - 1)
        state = self.cell_state.reshape(-1)[(cell[:, 2] * cells + cell[:, 1]) * cells + cell[:, 0]]
        state = torch.where(inside, state, -1)
        values = torch.zeros(flat.shape[0], 4, device=flat.device, dtype=self.lattice.dtype)
        on_lattice = (state == 0).nonzero().squeeze(1)
        if on_lattice.numel():
            values[on_lattice] = self._read_lattice(coords[on_lattice])
        in_brick = (state > 0).nonzero().squeeze(1)
        if in_brick.numel():
            local = (coords[in_brick] - cell[in_brick]) * self.brick
            values[in_brick] = self._read_bricks(state[in_brick] - 1, local)
        return values[:, :3].reshape(*shape, 3), values[:, 3].reshape(shape)

    def _read_lattice(self, coords: torch.Tensor) -> torch.Tensor:
        side = self.cells + 1
        columns = self.lattice.shape[-1] // side
        z0 = coords[:, 2].floor().clamp_(0, self.cells - 1)
        pixels = []
        for z in (z0, z0 + 1):
            row = torch.div(z, columns, rounding_mode="floor")
            pixels.append(((z - row * columns) * side + coords[:, 0], row * side + coords[:, 1]))
        return _atlas_read(self.lattice, pixels[0], pixels[1], coords[:, 2] - z0)

    def _read_bricks(self, index: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        side = self.brick + 1
        columns = self.bricks.shape[-1] // (side * side)
        row = torch.div(index, columns, rounding_mode="floor")
        tile_x = ((index - row * columns) * (side * side)).float() + local[:, 0]
        tile_y = (row * side).float() + local[:, 1]
        z0 = local[:, 2].floor().clamp_(0, self.brick - 1)
        return _atlas_read(
            self.bricks, (tile_x + z0 * side, tile_y), (tile_x + (z0 + 1) * side, tile_y), local[:, 2] - z0
        )

    def density_grid(self) -> torch.Tensor:
        """Raw sigma on the fine lattice, (R + 1, R + 1, R + 1) for R = `resolution`, indexed (x, y, z); point i
        lies at -half_size + i * spacing. Cells without a brick hold the coarse lattice interpolated trilinearly."""
        side, fine = self.cells + 1, self.resolution + 1
        columns = self.lattice.shape[-1] // side
        rows = self.lattice.shape[-2] // side
        coarse = (
            self.lattice[0, 3].reshape(rows, side, columns, side).permute(0, 2, 1, 3).reshape(-1, side, side)[:side]
        )
        grid = F.interpolate(coarse[None, None], size=(fine,) * 3, mode="trilinear", align_corners=True)[0, 0]
        cells = (self.cell_state > 0).nonzero()
        if cells.numel():
            b = self.brick
            brick_columns = self.bricks.shape[-1] // ((b + 1) ** 2)
            tiles = self.bricks[0, 3].reshape(-1, b + 1, brick_columns, b + 1, b + 1).permute(0, 2, 3, 1, 4)
            values = tiles.reshape(-1, b + 1, b + 1, b + 1)  # (tile, z, y, x)
            ids = self.cell_state[cells[:, 0], cells[:, 1], cells[:, 2]].long() - 1
            offsets = torch.arange(b + 1, device=grid.device)
            z, y, x = (
                cells[:, axis, None, None, None] * b + offsets.view(shape)
                for axis, shape in enumerate(((-1, 1, 1), (1, -1, 1), (1, 1, -1)))
            )
            grid[z, y, x] = values[ids]
        return grid.permute(2, 1, 0)

    @torch.no_grad()
    def render(
        self,
        yaw: float | torch.Tensor,
        pitch: float | torch.Tensor,
        resolution: int = 128,
        num_steps: int | None = None,
        zoom: float = 1.0,
    ) -> RenderOutput:
        """Render poses in degrees (floats or (B,) tensors) like `Pix2NeRF.render` with its defaults (hierarchical,
        deterministic, locked view), reading the grid: rgb (B, 3, H, W) in [0, 1], depth (B, H, W), opacity.
        zoom: magnification, as in `Pix2NeRF.render`."""
        limits = current_limits()
        resolution = check_int("resolution", resolution, 2, limits.resolution)
        if num_steps is not None:
            num_steps = check_int("num_steps", num_steps, 3, limits.num_steps)
        device = self.lattice.device
        yaw_t, pitch_t = torch.broadcast_tensors(
            degrees_tensor("yaw", check_degrees("yaw", yaw, limits), device),
            degrees_tensor("pitch", check_degrees("pitch", pitch, limits), device),
        )
        settings = self.settings if num_steps is None else replace(self.settings, num_steps=num_steps)
        origins, directions = world_rays(
            (yaw_t + self.yaw_offset).contiguous(), pitch_t.contiguous(), int(resolution), zoomed_fov(self.fov, zoom)
        )
        rgb, depth, opacity = render_rays_in_chunks(
            lambda points, _: self.query(points),
            origins,
            directions,
            settings,
            max_points_per_chunk=MAX_POINTS_PER_RENDER_CHUNK,
        )
        out = RenderOutput.from_rays(rgb, depth, opacity, int(resolution))
        out.rgb = out.rgb.clamp(0, 1)
        return out


def _single_latent(model: Pix2NeRF, latent_or_z: Latent | torch.Tensor) -> tuple[torch.Tensor, Latent | None]:
    """z (1, z_dim) of one latent, and the Latent itself when one was given."""
    latent = latent_or_z if isinstance(latent_or_z, Latent) else None
    z = check_latents(latent.z if latent is not None else latent_or_z, model.config.z_dim, batch=1)
    return z.to(model.device, torch.float32), latent


def _reporting_passes(field: PointFunction, progress: Callable[[float], None] | None) -> list[PointFunction]:
    """One PointFunction per pass of `bake` (PASS_PROGRESS): each evaluates `field` and, with a progress callback,
    does so in chunks of PROGRESS_POINTS, calling progress(fraction of the whole bake) after each."""
    if progress is None:
        return [field] * len(PASS_PROGRESS)
    starts = [sum(PASS_PROGRESS[:i]) for i in range(len(PASS_PROGRESS))]

    def reporting(start: float, share: float) -> PointFunction:
        def evaluate(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            rgb, sigma, total = [], [], points.shape[0]
            for first in range(0, total, PROGRESS_POINTS):
                chunk_rgb, chunk_sigma = field(points[first : first + PROGRESS_POINTS])
                rgb.append(chunk_rgb)
                sigma.append(chunk_sigma)
                progress(start + share * min(first + PROGRESS_POINTS, total) / total)
            return torch.cat(rgb), torch.cat(sigma)

        return evaluate

    return [reporting(start, share) for start, share in zip(starts, PASS_PROGRESS)]


def _lattice_points(axis: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """World points (M, 3) as (x, y, z) of lattice indices (M, 3) given as (z, y, x)."""
    return torch.stack([axis[index[:, 2]], axis[index[:, 1]], axis[index[:, 0]]], -1)


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    if radius == 0:
        return mask
    return F.max_pool3d(mask[None, None].float(), 2 * radius + 1, 1, radius)[0, 0] > 0


def _corner_extremes(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest and smallest of each cell's 8 corners, (C, C, C) each, from lattice values (C + 1, C + 1, C + 1)."""
    corners = sigma[None, None]
    return F.max_pool3d(corners, 2, 1)[0, 0], -F.max_pool3d(-corners, 2, 1)[0, 0]


def _hidden_cells(corner_min: torch.Tensor, cell_size: float) -> torch.Tensor:
    """Cells (C, C, C) that every ray reaches only after an optical depth of HIDDEN_OPTICAL_DEPTH:
    all cells within Chebyshev radius r hold at least sigma_r, and sigma_r * r * cell_size reaches that depth."""
    hidden = torch.zeros_like(corner_min, dtype=torch.bool)
    least = corner_min[None, None]
    for radius in range(1, corner_min.shape[0] // 2):
        least = -F.max_pool3d(-F.pad(least, (1,) * 6, value=0.0), 3, 1)  # outside the cube counts as empty
        hidden |= least[0, 0] * (radius * cell_size) >= HIDDEN_OPTICAL_DEPTH
        if not (least > 0).any():
            break
    return hidden


def _poorly_interpolated(
    field: PointFunction, lattice: torch.Tensor, cells: torch.Tensor, axis: torch.Tensor
) -> torch.Tensor:
    """Cells among `cells` (C, C, C) whose centre the lattice (4, C + 1, C + 1, C + 1) predicts badly: the
    optical depth across the cell off by more than DETAIL_OPTICAL_DEPTH, or, where the cell is not transparent,
    a colour channel off by more than DETAIL_COLOR."""
    index = cells.nonzero()
    flagged = torch.zeros_like(cells)
    if not index.numel():
        return flagged
    centres = (_lattice_points(axis, index) + _lattice_points(axis, index + 1)) / 2
    rgb, sigma = field(centres)
    predicted = F.avg_pool3d(lattice[None], 2, 1)[0][:, index[:, 0], index[:, 1], index[:, 2]].t()
    cell_size = float(axis[1] - axis[0])
    density_error = (sigma - predicted[:, 3]).abs() * cell_size > DETAIL_OPTICAL_DEPTH
    opacity = (torch.maximum(sigma, predicted[:, 3]).clamp_min(0) * cell_size).clamp_max(1)
    color_error = (rgb - predicted[:, :3]).abs().amax(-1) * opacity > DETAIL_COLOR
    flagged[index[:, 0], index[:, 1], index[:, 2]] = density_error | color_error
    return flagged


def _cell_points(cells: torch.Tensor, step: int) -> torch.Tensor:
    """Lattice points (P + 1)^3 bool, P = C * step, on the closed cells flagged in `cells` (C, C, C) refined
    `step` times."""
    fine = cells.repeat_interleave(step, 0).repeat_interleave(step, 1).repeat_interleave(step, 2)
    return F.max_pool3d(F.pad(fine[None, None].float(), (1,) * 6), 2, 1)[0, 0] > 0


def check_bake_resolution(resolution: int, brick: int = DEFAULT_BRICK) -> None:
    """`bake`'s grid: `resolution` fine cells per axis, a multiple of brick times LEVEL0_STEP."""
    if brick < 1 or resolution % brick or (resolution // brick) % LEVEL0_STEP:
        raise ValueError(
            f"resolution ({resolution}) must be a multiple of brick ({brick}) times {LEVEL0_STEP}, e.g. "
            f"{DEFAULT_BAKE_RESOLUTION} with brick {DEFAULT_BRICK}"
        )


@torch.no_grad()
def bake(
    model: Pix2NeRF,
    latent_or_z: Latent | torch.Tensor,
    *,
    resolution: int = DEFAULT_BAKE_RESOLUTION,
    brick: int = DEFAULT_BRICK,
    half_size: float | None = None,
    psi: float = 1.0,
    progress: Callable[[float], None] | None = None,
) -> BakedField:
    """Sample the field of one latent (a Latent or z (1, z_dim)) for fast renders, about `resolution` fine cells
    per axis where there is matter.

    Three passes, each evaluating the network only where the previous one found density: a lattice of
    cells / LEVEL0_STEP cells per axis everywhere; the lattice of `cells` = resolution / brick cells per axis in the
    level-0 cells with density (above REFINE_DENSITY at a corner) and their neighbours (elsewhere it is level 0
    upsampled); then a brick of brick^3 fine cells in each cell with density that is not hidden deep inside
    opaque matter. half_size: the cube's half edge in world units (None: `default_half_size(model.config)`).
    progress(fraction) is called as the network's evaluations finish (fractions 0-1, 1 at the end).
    """
    check_bake_resolution(resolution, brick)
    z, latent = _single_latent(model, latent_or_z)
    field = model.field.point_function(model.codes_of(latent if latent is not None else z, psi), LOCKED_VIEW_DIRECTION)
    level0_field, level1_field, detail_field, level2_field = _reporting_passes(field, progress)
    half = default_half_size(model.config) if half_size is None else float(half_size)
    if not half > 0:
        raise ValueError(f"half_size must be positive world units, got {half_size}")
    device, cells = model.device, resolution // brick
    side = cells + 1
    axis = torch.linspace(-half, half, side, device=device)

    # level 0: every LEVEL0_STEP-th lattice point
    index0 = torch.arange(0, side, LEVEL0_STEP, device=device)
    points0 = torch.stack(torch.meshgrid(index0, index0, index0, indexing="ij"), -1).reshape(-1, 3)
    rgb, sigma = level0_field(_lattice_points(axis, points0))
    level0 = torch.cat([rgb, sigma[:, None]], -1).t().reshape(1, 4, *(len(index0),) * 3)
    dense0 = _dilate(_corner_extremes(level0[0, 3])[0] > REFINE_DENSITY, 1)

    # level 1: the lattice, evaluated in level-0 cells with density
    lattice = F.interpolate(level0, size=(side,) * 3, mode="trilinear", align_corners=True)[0]
    wanted = _cell_points(dense0, LEVEL0_STEP)
    wanted[::LEVEL0_STEP, ::LEVEL0_STEP, ::LEVEL0_STEP] = False
    index1 = wanted.nonzero()
    if index1.numel():
        rgb, sigma = level1_field(_lattice_points(axis, index1))
        lattice[:, index1[:, 0], index1[:, 1], index1[:, 2]] = torch.cat([rgb, sigma[:, None]], -1).t()

    # level 2: bricks in visible cells with density where the lattice misses detail
    corner_max, corner_min = _corner_extremes(lattice[3])
    cell_size = 2 * half / cells
    candidates = (corner_max > REFINE_DENSITY) & ~_hidden_cells(corner_min, cell_size)
    with_bricks = _dilate(_poorly_interpolated(detail_field, lattice, candidates, axis), BRICK_DILATION) & candidates
    cell_state = torch.where(corner_max > 0, 0, -1).to(torch.int32)
    brick_cells = with_bricks.nonzero()  # (n, 3) as (z, y, x)
    n, b = brick_cells.shape[0], brick
    fine_side = cells * b + 1
    offsets = torch.stack(torch.meshgrid(*(torch.arange(b + 1, device=device),) * 3, indexing="ij"), -1).reshape(-1, 3)
    fine_index = (brick_cells[:, None, :] * b + offsets).reshape(-1, 3)  # (n * (b + 1)^3, 3) as (z, y, x)
    linear = (fine_index[:, 0] * fine_side + fine_index[:, 1]) * fine_side + fine_index[:, 2]
    unique, inverse = torch.unique(linear, return_inverse=True)
    unique_index = torch.stack(
        [unique // (fine_side * fine_side), unique // fine_side % fine_side, unique % fine_side], -1
    )
    values = torch.empty(unique.shape[0], 4, device=device)
    coarse_point = (unique_index % b == 0).all(-1)
    known = unique_index[coarse_point] // b
    values[coarse_point] = lattice[:, known[:, 0], known[:, 1], known[:, 2]].t()
    new = (~coarse_point).nonzero().squeeze(1)
    if new.numel():
        fine_axis = torch.linspace(-half, half, fine_side, device=device)
        rgb, sigma = level2_field(_lattice_points(fine_axis, unique_index[new]))
        values[new] = torch.cat([rgb, sigma[:, None]], -1)
    brick_values = values[inverse].reshape(n, b + 1, b + 1, b + 1, 4)  # (brick, z, y, x, channel)
    positive = (brick_values[..., 3] > 0).flatten(1).any(1)
    ids = torch.arange(1, n + 1, device=device, dtype=torch.int32)
    cell_state[brick_cells[:, 0], brick_cells[:, 1], brick_cells[:, 2]] = torch.where(positive, ids, -1)

    brick_columns = max(1, math.ceil(math.sqrt(n / (b + 1))))
    tiles = brick_values.permute(4, 0, 2, 1, 3).reshape(4, n, b + 1, (b + 1) ** 2)  # (channel, brick, y, z * x)
    bricks = _slice_atlas(tiles if n else torch.zeros(4, 1, b + 1, (b + 1) ** 2, device=device), brick_columns)
    config = model.config
    settings = RaySamplingSettings.from_config(config)
    if progress is not None:
        progress(1.0)
    return BakedField(
        _slice_atlas(lattice, math.ceil(math.sqrt(side))),
        bricks,
        cell_state,
        b,
        half,
        config.fov,
        settings,
        latent,
        config.yaw_offset,
        ViewRegion.from_config(config),
    )
