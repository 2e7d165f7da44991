"""Training composites for the segmentation network, made on the fly: the project's synthetic objects (and plain
shapes) over real photographs and procedural textures, with their true masks.

Data flow: object pool (straight RGBA renders of training-split cars and chairs) + photo pool (scikit-image's
photographs that the benchmarks do not use) -> per sample: a background (photo crop, dead leaves, fractal noise,
stripes, gradient or pixel noise, colour-jittered), distractor shapes, the object (a render or a plain shape) scaled,
shifted, flipped and colour-jittered, composited over them -> blur, noise, 8-bit rounding -> images (B, 3, S, S) in
[0, 1] and the object's alpha (B, 1, S, S) in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pix2nerf.evaluation.composites import BENCHMARK_BACKGROUNDS

# scikit-image photographs trained on; `cat` is the benchmarks' `chelsea`, so it stays out with them.
TRAINING_PHOTOS = (
    "stereo_motorcycle",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "colorwheel",
    "coins",
    "clock",
    "moon",
    "page",
    "microaneurysms",
    "logo",
    "horse",
    "checkerboard",
)
PHOTO_SIDE = 512  # px, the long side photos are kept at
RENDER_SPAN = (0.45, 1.15)  # an object render (its training framing) spans this fraction of the composite's side
SHAPE_SPAN = (0.3, 0.8)  # a plain shape's box spans this fraction
LEAF_RADIUS = (0.03, 1.2)  # dead leaves' radii, fractions of the composite's half side
SHIFT = 0.2  # the object's centre lies up to this fraction of the side from the composite's centre
ROTATION = 10.0  # degrees, at most, of the objects' in-plane rotation (applied to ROTATED of them)
ROTATED = 0.25
FOREGROUND_KINDS = {"cars": 0.75, "chairs": 0.12, "shape": 0.13}  # what the object is, with its probability
BACKGROUND_KINDS = {"photo": 0.45, "dead_leaves": 0.2, "fractal": 0.1, "gradient": 0.1, "stripes": 0.1, "noise": 0.05}


def load_photos(names: tuple[str, ...] = TRAINING_PHOTOS) -> list[torch.Tensor]:
    """scikit-image's photographs `names` as RGB (3, H, W) float32 in [0, 1], long side at most PHOTO_SIDE
    (stereo_motorcycle gives its left and right views). Raises ValueError for a benchmark background."""
    import skimage.data

    held_out = set(names) & {*BENCHMARK_BACKGROUNDS, "cat"}
    if held_out:
        raise ValueError(f"{sorted(held_out)} are the benchmarks' backgrounds: they are never trained on")
    photos = []
    for name in names:
        loaded = getattr(skimage.data, name)()
        for image in loaded[:2] if name == "stereo_motorcycle" else [loaded]:
            pixels = torch.as_tensor(np.asarray(image, dtype=np.float32))
            pixels = pixels / 255 if image.dtype == np.uint8 else pixels / max(float(pixels.max()), 1e-6)
            if pixels.ndim == 2:
                pixels = pixels[..., None].expand(-1, -1, 3)
            if pixels.shape[-1] == 4:  # RGBA over white
                pixels = pixels[..., :3] * pixels[..., 3:] + (1 - pixels[..., 3:])
            pixels = pixels.permute(2, 0, 1).contiguous()
            scale = PHOTO_SIDE / max(pixels.shape[1:])
            if scale < 1:
                size = [round(side * scale) for side in pixels.shape[1:]]
                pixels = F.interpolate(pixels[None], size=size, mode="bilinear", antialias=True)[0]
            photos.append(pixels.clamp(0, 1))
    return photos


def render_pool(category: str, objects: int, split: str, seed: int, resolution: int) -> torch.Tensor:
    """Straight RGBA renders (objects, 4, R, R) in [0, 1] of `split`'s first `objects` objects of `seed`, one view
    each at the split's first pose (the category's pose prior)."""
    from pix2nerf.data.synthetic import render_objects
    from pix2nerf.data.synthetic.categories import get_category
    from pix2nerf.data.synthetic.splits import plan_split

    plan = plan_split(get_category(category).config(), split, objects, 1, seed)
    return render_objects(category, plan.object_ids, plan.yaw, plan.pitch, resolution)


@dataclass
class CompositeStream:
    """Batches of training composites (see the module docstring). objects: category name -> renders (N, 4, R, R);
    photos: (3, H, W) each; size: px, the composites' side; seed: the stream's random state."""

    objects: dict[str, torch.Tensor]
    photos: list[torch.Tensor]
    size: int
    seed: int

    def __post_init__(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)
        y, x = torch.meshgrid(torch.linspace(-1, 1, self.size), torch.linspace(-1, 1, self.size), indexing="ij")
        self.grid_x, self.grid_y = x, y
        self.backgrounds: dict[str, Callable[[], torch.Tensor]] = {
            "photo": self._photo_crop,
            "dead_leaves": self._dead_leaves,
            "fractal": self._fractal,
            "gradient": self._gradient,
            "stripes": self._stripes,
            "noise": self._pixel_noise,
        }

    def batch(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`count` composites: images (count, 3, S, S) and the object's alpha (count, 1, S, S), both in [0, 1]."""
        images, alphas = zip(*(self.sample() for _ in range(count)))
        return torch.stack(images), torch.stack(alphas)

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One composite: image (3, S, S) and alpha (1, S, S)."""
        image = self._jitter(self.backgrounds[self._pick(BACKGROUND_KINDS)](), 1.0)
        for _ in range(int(self._int(0, 4))):
            rgb, alpha = self._shape(self._uniform(0.1, 0.45))
            image = self._over(image, *self._place(rgb, alpha, 1.0))
        kind = self._pick(FOREGROUND_KINDS)
        if kind == "shape":
            rgb, alpha = self._shape(self._uniform(*SHAPE_SPAN))
        else:
            pool = self.objects[kind]
            render = pool[int(self._int(0, len(pool)))]
            side = max(2, round(self.size * self._uniform(*RENDER_SPAN)))
            render = F.interpolate(render[None], size=(side, side), mode="bilinear", antialias=True)[0]
            rgb, alpha = self._jitter(render[:3], 0.6), render[3:]
        rgb, alpha = self._place(rgb, alpha, SHIFT)
        image = self._over(image, rgb, alpha)
        if self._uniform(0, 1) < 0.3:
            image = _blur(image, self._uniform(0.3, 1.0))
        if self._uniform(0, 1) < 0.4:
            image = image + self._normal(image.shape) * self._uniform(0, 0.03)
        return (image.clamp(0, 1) * 255).round() / 255, alpha

    # random draws from the stream's generator
    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=self.generator))

    def _int(self, low: int, high: int) -> int:
        return int(torch.randint(low, high, (), generator=self.generator))

    def _normal(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator)

    def _color(self) -> torch.Tensor:
        return torch.rand(3, 1, 1, generator=self.generator)

    def _pick(self, weights: dict[str, float]) -> str:
        names = list(weights)
        index = torch.multinomial(torch.tensor([weights[n] for n in names]), 1, generator=self.generator)
        return names[int(index)]

    # backgrounds, each (3, S, S) in [0, 1]
    def _photo_crop(self) -> torch.Tensor:
        photo = self.photos[self._int(0, len(self.photos))]
        height, width = photo.shape[1:]
        crop = max(8, round(min(height, width) * self._uniform(0.2, 1.0)))
        top, left = self._int(0, height - crop + 1), self._int(0, width - crop + 1)
        patch = photo[:, top : top + crop, left : left + crop][None]
        patch = F.interpolate(patch, size=(self.size, self.size), mode="bilinear", antialias=True)[0]
        return torch.rot90(patch, self._int(0, 4), (1, 2))

    def _dead_leaves(self) -> torch.Tensor:
        """Occluding discs and boxes of random colours, radii from a power law (scale-invariant like photos), the
        small ones on top."""
        image = self._color().expand(3, self.size, self.size).clone()
        count = self._int(50, 250)
        fractions = torch.rand(count, generator=self.generator) * (1 - (LEAF_RADIUS[0] / LEAF_RADIUS[1]) ** 2)
        radii = (LEAF_RADIUS[0] / (1 - fractions).sqrt()).sort(descending=True).values  # p(r) ~ r^-3
        for radius in radii.tolist():
            cx, cy = self._uniform(-1.2, 1.2), self._uniform(-1.2, 1.2)
            dx, dy = (self.grid_x - cx).abs(), (self.grid_y - cy).abs()
            inside = (dx.square() + dy.square() < radius**2) if self._uniform(0, 1) < 0.6 else (dx.maximum(dy) < radius)
            image = torch.where(inside, self._color(), image)
        return image

    def _fractal(self) -> torch.Tensor:
        """Three-channel value noise summed over octaves (amplitude ~ 1/frequency^beta), mapped to colours."""
        noise = torch.zeros(3, self.size, self.size)
        beta = self._uniform(0.5, 1.5)
        for octave in range(1, int(math.log2(self.size))):
            cells = 2**octave
            layer = F.interpolate(self._normal((1, 3, cells, cells)), size=(self.size, self.size), mode="bicubic")
            noise += layer[0] / cells**beta
        noise = noise / noise.std().clamp_min(1e-6)
        mix = self._normal((3, 3)) * self._uniform(0.05, 0.3)
        return (self._color() + torch.einsum("ij,jhw->ihw", mix, noise)).clamp(0, 1)

    def _gradient(self) -> torch.Tensor:
        """A linear blend of two colours (often close) across a random direction, with faint noise."""
        angle = self._uniform(0, 2 * math.pi)
        t = ((self.grid_x * math.cos(angle) + self.grid_y * math.sin(angle)) + 1.5) / 3
        start = self._color()
        end = start + (self._color() - 0.5) * self._uniform(0, 1)
        return start + (end - start) * t + self._normal((3, self.size, self.size)) * self._uniform(0, 0.02)

    def _stripes(self) -> torch.Tensor:
        """Stripes or a checker of two colours at a random frequency and angle, sharp or soft."""
        angle = self._uniform(0, math.pi)
        frequency = self._uniform(2, 30)
        u = self.grid_x * math.cos(angle) + self.grid_y * math.sin(angle)
        wave = torch.sin(frequency * u)
        if self._uniform(0, 1) < 0.4:
            wave = wave * torch.sin(frequency * (self.grid_y * math.cos(angle) - self.grid_x * math.sin(angle)))
        t = torch.sigmoid(wave * self._uniform(1, 20))
        first, second = self._color(), self._color()
        return first + (second - first) * t

    def _pixel_noise(self) -> torch.Tensor:
        """Uniform random colours in blocks of 1-4 px."""
        block = self._int(1, 5)
        cells = -(-self.size // block)
        noise = torch.rand(1, 3, cells, cells, generator=self.generator)
        return F.interpolate(noise, scale_factor=block, mode="nearest")[0, :, : self.size, : self.size]

    # objects
    def _shape(self, span: float) -> tuple[torch.Tensor, torch.Tensor]:
        """A plain shape (ellipse, rounded box or convex polygon) of box side `span` x S, filled with a shaded colour
        or a photo's texture: RGB (3, s, s) and alpha (1, s, s), antialiased."""
        side = max(4, round(self.size * span))
        y, x = torch.meshgrid(torch.linspace(-1, 1, 2 * side), torch.linspace(-1, 1, 2 * side), indexing="ij")
        width, height = self._uniform(0.4, 1.0), self._uniform(0.3, 1.0)
        kind = self._int(0, 3)
        if kind == 0:
            inside = (x / width).square() + (y / height).square() < 1
        elif kind == 1:
            rounding = self._uniform(0.0, 0.3)
            qx, qy = ((x.abs() - width + rounding).clamp_min(0), (y.abs() - height + rounding).clamp_min(0))
            inside = (qx.square() + qy.square()).sqrt() < rounding + 1e-6
        else:
            angles = torch.sort(torch.rand(self._int(3, 9), generator=self.generator) * 2 * math.pi).values
            inside = torch.ones_like(x, dtype=torch.bool)
            corners = torch.stack([width * torch.cos(angles), height * torch.sin(angles)], 1)
            for a, b in zip(corners, corners.roll(-1, 0)):
                inside &= (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]) >= 0
        alpha = F.avg_pool2d(inside.float()[None, None], 2)[0]
        if self._uniform(0, 1) < 0.5:
            fill = F.interpolate(self._photo_crop()[None], size=(side, side), mode="bilinear", antialias=True)[0]
        else:
            light = self._uniform(0.5, 1.0) + self._uniform(0, 0.5) * (self.grid_y[None] + 1) / 2
            fill = F.interpolate((self._color() * light)[None], size=(side, side), mode="bilinear")[0]
        return self._jitter(fill.clamp(0, 1), 0.6), alpha

    def _place(self, rgb: torch.Tensor, alpha: torch.Tensor, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
        """An object (3, s, s) + (1, s, s) flipped at random, maybe rotated, its centre shifted up to `shift` x S from
        the frame's centre: RGB and alpha at the composite's size (3 and 1, S, S), alpha 0 outside."""
        layer = torch.cat([rgb * alpha, alpha])[None]  # premultiplied: resampling keeps colours and coverage apart
        if self._uniform(0, 1) < 0.5:
            layer = layer.flip(-1)
        side = layer.shape[-1]
        scale = side / self.size
        angle = math.radians(self._uniform(-ROTATION, ROTATION)) if self._uniform(0, 1) < ROTATED else 0.0
        dx, dy = self._uniform(-shift, shift) * 2, self._uniform(-shift, shift) * 2
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        theta = torch.tensor([[cos, -sin, -(cos * dx - sin * dy)], [sin, cos, -(sin * dx + cos * dy)]])
        grid = F.affine_grid(theta[None], [1, 4, self.size, self.size], align_corners=False)
        placed = F.grid_sample(layer, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
        alpha = placed[3:].clamp(0, 1)
        return placed[:3] / alpha.clamp_min(1e-6), alpha

    def _over(self, image: torch.Tensor, rgb: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return image * (1 - alpha) + rgb.clamp(0, 1) * alpha

    def _jitter(self, rgb: torch.Tensor, strength: float) -> torch.Tensor:
        """Random brightness, contrast, saturation, hue (a rotation about the grey axis) and gamma; `strength`
        scales the ranges."""
        s = strength
        grey = rgb.mean(0, keepdim=True)
        rgb = grey + (rgb - grey) * self._uniform(1 - 0.8 * s, 1 + 0.6 * s)  # saturation
        angle = self._uniform(-math.pi, math.pi) * s
        axis = torch.full((3,), 1 / math.sqrt(3))
        cross = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        rotation = torch.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross
        rgb = torch.einsum("ij,jhw->ihw", rotation, rgb)
        mean = rgb.mean()
        rgb = mean + (rgb - mean) * self._uniform(1 - 0.5 * s, 1 + 0.4 * s)  # contrast
        rgb = rgb * self._uniform(1 - 0.4 * s, 1 + 0.3 * s)  # brightness
        return rgb.clamp(0, 1) ** math.exp(self._uniform(-0.4, 0.4) * s)


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (C, H, W), edges replicated."""
    radius = max(1, math.ceil(2 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).to(image.dtype)
    channels = image.shape[0]
    x = F.pad(image[None], (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    x = F.conv2d(x, taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    return x[0]
