"""Benchmark v2 (``kind: kinetics``): most classes are told apart by appearance, a few pairs only by motion.

On Kinetics most classes are recognisable from one frame (objects, scene, context) and a minority needs time
("pushing" vs "pulling" something). This renderer mirrors that. Each class has a *look*: an object shape, its
texture and the scene behind it. Appearance classes (the majority) each own a look and move at random (still,
slide, spin or zoom, any direction): motion carries no information. Each motion pair shares one look and its two
classes differ only in the direction of one motion (right vs left, cw vs ccw, zoom in vs out). Every motion is
parametrised around the clip's middle frame, so with no drift and no noise a clip of one member is exactly a clip
of the other played backwards: the set of frames is the same and a per-frame model cannot tell the pair apart.

Looks are built so that context matters: look ``i`` has shape ``i % 5`` and scene ``i % 4`` (unique for
``i < 20``), so several classes share an object and differ only in the scene. Colours, position, size, speed,
scene layout, camera drift, two distractor blobs and pixel noise are random per clip.
"""

from __future__ import annotations

import math

import torch

from vidsteal.data.sprites import contrasting, sdf

LOOK_SHAPES = ("square", "triangle", "cross", "ell", "ring")
TEXTURES = ("solid", "outlined", "spotted")  # fill colour A; A border around B; A with a B spot
SCENES = ("gradient", "horizon", "stripes", "tiles")
# Index 0 ("still") doubles as the "any motion" value of appearance classes in the class factors.
MOTIONS = ("still", "right", "left", "up", "down", "cw", "ccw", "zoom_in", "zoom_out")
PAIRS = {"lateral": ("right", "left"), "spin": ("cw", "ccw"), "zoom": ("zoom_in", "zoom_out")}
OTHER_SHAPES = ("disk", "diamond", "bar")  # objects of no class: the auxiliary set's (see render_other_objects)
PAIR_LOOKS = {"zoom": 17, "spin": 18, "lateral": 19}  # an asymmetric shape (ell) for the spin pair
MAX_APPEARANCE = min(PAIR_LOOKS.values())


def look(i: int) -> tuple[str, str, str]:
    """(shape, texture, scene) of look ``i``."""
    return LOOK_SHAPES[i % len(LOOK_SHAPES)], TEXTURES[(i // len(LOOK_SHAPES)) % len(TEXTURES)], SCENES[i % len(SCENES)]


def class_table(appearance_classes: int, motion_pairs: tuple[str, ...]) -> tuple[list[str], list[int], list[int]]:
    """Class names, and per class its look index and motion index (0 = any motion: an appearance class)."""
    if not 1 <= appearance_classes <= MAX_APPEARANCE:
        raise ValueError(f"appearance_classes must lie in 1..{MAX_APPEARANCE}, got {appearance_classes}")
    if len(set(motion_pairs)) != len(motion_pairs) or not set(motion_pairs) <= set(PAIRS):
        raise ValueError(f"motion_pairs must be distinct names from {tuple(PAIRS)}, got {motion_pairs}")
    names, looks, motions = [], [], []
    for i in range(appearance_classes):
        names.append("_".join(look(i)))
        looks.append(i)
        motions.append(0)
    for pair in motion_pairs:
        for motion in PAIRS[pair]:
            names.append("_".join(look(PAIR_LOOKS[pair])) + f"_{motion}")
            looks.append(PAIR_LOOKS[pair])
            motions.append(MOTIONS.index(motion))
    return names, looks, motions


def clip_motions(class_motion: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The motion each clip is rendered with: its class's, or a random one (any of MOTIONS) for appearance classes."""
    random = torch.randint(0, len(MOTIONS), class_motion.shape, generator=g)
    return torch.where(class_motion == 0, random, class_motion)


def _scene_mix(scene: torch.Tensor, u: torch.Tensor, v: torch.Tensor, params: torch.Tensor, size: int) -> torch.Tensor:
    """Per pixel, how much of the scene's second colour shows: (n, H, W) in [0, 1]. ``u, v`` are rotated, drifted
    pixel coordinates; ``params`` (n, 2) are the scene's period / horizon height and phase."""
    mix = torch.empty_like(u)
    period, phase = params[:, 0].view(-1, 1, 1), params[:, 1].view(-1, 1, 1)
    for s_i, name in enumerate(SCENES):
        sel = scene == s_i
        if not sel.any():
            continue
        su, sv, p, ph = u[sel], v[sel], period[sel], phase[sel]
        if name == "gradient":
            mix[sel] = (su / size + 0.5).clamp(0, 1)
        elif name == "horizon":
            mix[sel] = torch.sigmoid((sv - (p - 6) / 10 * size) * 1.5)  # height within +-0.2 of the middle
        elif name == "stripes":
            mix[sel] = torch.sigmoid(3 * torch.sin(2 * math.pi * su / p + ph))
        else:  # tiles
            mix[sel] = torch.sigmoid(3 * torch.sin(2 * math.pi * su / p + ph) * torch.sin(2 * math.pi * sv / p))
    return mix


def _texture_mix(texture: torch.Tensor, dist: torch.Tensor, radius: torch.Tensor, sharp: torch.Tensor) -> torch.Tensor:
    """Per pixel, how much of the object's second colour shows: deeper than 0.15 inside the shape (outlined) or
    within 0.4 of its centre (spotted); ``dist`` is the shape's signed distance, ``radius`` the distance from the
    object's centre, both in object units, ``sharp`` the edge sharpness."""
    mix = torch.zeros_like(dist)
    outlined, spotted = texture == TEXTURES.index("outlined"), texture == TEXTURES.index("spotted")
    if outlined.any():
        mix[outlined] = torch.sigmoid((-dist[outlined] - 0.15) * sharp[outlined])
    if spotted.any():
        mix[spotted] = torch.sigmoid((0.4 - radius[spotted]) * sharp[spotted])
    return mix


def render_other_objects(n: int, cfg, g: torch.Generator) -> torch.Tensor:
    """``n`` clips of the same world with objects no class has (:data:`OTHER_SHAPES`): any texture, scene and
    motion. The embedded stand-in for Moments in Time next to Kinetics: the same kind of footage (objects moving
    over scenes), categories the victim was never trained on."""
    shapes = [OTHER_SHAPES[i] for i in torch.randint(0, len(OTHER_SHAPES), (n,), generator=g).tolist()]
    texture = torch.randint(0, len(TEXTURES), (n,), generator=g)
    scene = torch.randint(0, len(SCENES), (n,), generator=g)
    motion = torch.randint(0, len(MOTIONS), (n,), generator=g)
    return render_parts(shapes, texture, scene, motion, cfg, g)


def render_looks(look_idx: torch.Tensor, motion_idx: torch.Tensor, cfg, g: torch.Generator) -> torch.Tensor:
    """Render one clip per (look, motion) index pair (``cfg``: a BenchmarkConfig); returns uint8 (N, T, C, H, W).

    Every random draw is made for every clip whatever its motion, so two calls that differ only in ``motion_idx``
    render the same objects, scenes and noise.
    """
    parts = [look(i) for i in look_idx.tolist()]
    texture = torch.tensor([TEXTURES.index(p[1]) for p in parts], dtype=torch.long)
    scene = torch.tensor([SCENES.index(p[2]) for p in parts], dtype=torch.long)
    return render_parts([p[0] for p in parts], texture, scene, motion_idx, cfg, g)


def render_parts(shapes: list[str], texture: torch.Tensor, scene: torch.Tensor, motion_idx: torch.Tensor, cfg,
                 g: torch.Generator) -> torch.Tensor:
    """Render one clip per (shape name, texture index, scene index, motion index): the benchmark's world, with any
    shape :func:`vidsteal.data.sprites.sdf` draws (the auxiliary set uses shapes no class has)."""
    n, t_len, size = len(shapes), cfg.frames, cfg.size
    shape_names = sorted(set(shapes))
    shape = torch.tensor([shape_names.index(s) for s in shapes], dtype=torch.long)
    # Scene: two close colours mixed by the scene's pattern, its own orientation, period and phase.
    bg_a = torch.rand(n, 3, generator=g) * 0.8 + 0.1
    lo_c, hi_c = cfg.scene_contrast
    step = (lo_c + (hi_c - lo_c) * torch.rand(n, 3, generator=g)) * (torch.randint(0, 2, (n, 3), generator=g) * 2 - 1)
    bg_b = torch.where((bg_a + step - 0.5).abs() <= 0.5, bg_a + step, bg_a - step)  # always visible, in [0, 1]
    bg_angle = torch.rand(n, generator=g) * 2 * math.pi
    bg_params = torch.stack([4 + 4 * torch.rand(n, generator=g), torch.rand(n, generator=g) * 2 * math.pi], 1)
    horizon = scene == SCENES.index("horizon")
    bg_angle[horizon] = (bg_angle[horizon] - math.pi) * 0.05  # near-level horizons, height from params[:, 0]
    # Object: two colours that stand out from the scene, size, start angle and the motion's speed.
    obj_a = contrasting((bg_a + bg_b) / 2, g)
    obj_b = contrasting(obj_a, g)
    lo_r, hi_r = cfg.object_size
    radius = size * (lo_r + (hi_r - lo_r) * torch.rand(n, generator=g))
    speed = size * (0.045 + 0.03 * torch.rand(n, generator=g))
    spin = 0.25 + 0.2 * torch.rand(n, generator=g)
    zoom = 1.07 + 0.05 * torch.rand(n, generator=g)
    angle0 = torch.rand(n, generator=g) * 2 * math.pi
    drift = (torch.rand(n, 2, generator=g) - 0.5) * 2 * cfg.drift
    where = torch.rand(n, 2, generator=g)
    blob_c = torch.stack([contrasting(bg_a, g), contrasting(bg_b, g)], 1)  # (n, 2 blobs, 3)
    blob_pos = torch.rand(n, 2, 2, generator=g) * size
    blob_r = size * (0.05 + 0.07 * torch.rand(n, 2, generator=g))
    # Motion around the middle frame: sign +1 / -1 for the two directions, 0 where the motion is another kind.
    names = [MOTIONS[i] for i in motion_idx.tolist()]
    unit = {"right": (1.0, 0.0), "left": (-1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
    vel = torch.tensor([unit.get(m, (0.0, 0.0)) for m in names]).view(n, 2) * speed.view(n, 1)
    spin_sign = torch.tensor([{"cw": 1.0, "ccw": -1.0}.get(m, 0.0) for m in names])
    zoom_sign = torch.tensor([{"zoom_in": 1.0, "zoom_out": -1.0}.get(m, 0.0) for m in names])
    # Where the object is at the middle frame; the same for every motion (so where it sits tells nothing about
    # how it moves), with room for the longest slide.
    margin = (radius * 0.8 + speed * (t_len - 1) / 2).view(n, 1)
    centre = size / 2 + (size / 2 - margin).clamp(min=0) * (2 * where - 1)

    pix = torch.arange(size, dtype=torch.float32) + 0.5
    py, px = torch.meshgrid(pix, pix, indexing="ij")
    cos_b, sin_b = bg_angle.cos().view(n, 1, 1), bg_angle.sin().view(n, 1, 1)
    frames = []
    for t in range(t_len):
        tt = t - (t_len - 1) / 2
        cam = drift * tt
        sx, sy = px - cam[:, 0].view(n, 1, 1) - size / 2, py - cam[:, 1].view(n, 1, 1) - size / 2
        scene_mix = _scene_mix(scene, cos_b * sx + sin_b * sy, -sin_b * sx + cos_b * sy, bg_params, size)
        frame = torch.lerp(bg_a.view(n, 3, 1, 1), bg_b.view(n, 3, 1, 1), scene_mix.unsqueeze(1))
        for b in range(2):  # a Gaussian blob is separable: an outer product of a row and a column profile
            bpos = blob_pos[:, b] + cam
            inv_r = 1 / blob_r[:, b].view(n, 1)
            row = torch.exp(-((pix - bpos[:, 0].view(n, 1)) * inv_r) ** 2)
            col = torch.exp(-((pix - bpos[:, 1].view(n, 1)) * inv_r) ** 2) * 0.8
            weight = (col.unsqueeze(2) * row.unsqueeze(1)).unsqueeze(1)
            frame = torch.lerp(frame, blob_c[:, b].view(n, 3, 1, 1), weight)
        at = centre + vel * tt + cam
        theta = angle0 + spin_sign * spin * tt
        scale = (radius * zoom.pow(zoom_sign * tt)).view(n, 1, 1)
        dx, dy = (px - at[:, 0].view(n, 1, 1)) / scale, (py - at[:, 1].view(n, 1, 1)) / scale
        cos, sin = theta.cos().view(n, 1, 1), theta.sin().view(n, 1, 1)
        lx, ly = cos * dx + sin * dy, -sin * dx + cos * dy
        dist = torch.empty(n, size, size)
        for s_i, s_name in enumerate(shape_names):
            sel = shape == s_i
            if sel.any():
                dist[sel] = sdf(s_name, lx[sel], ly[sel])
        alpha = torch.sigmoid(-dist * scale * 2.0).unsqueeze(1)
        texture_mix = _texture_mix(texture, dist, (lx * lx + ly * ly).sqrt(), scale.expand_as(dist) * 2.0)
        colour = torch.lerp(obj_a.view(n, 3, 1, 1), obj_b.view(n, 3, 1, 1), texture_mix.unsqueeze(1))
        frame = torch.lerp(frame, colour, alpha)
        frame = frame + cfg.noise * torch.randn(frame.shape, generator=g)
        frames.append(frame.clamp(0, 1))
    return (torch.stack(frames, dim=1) * 255).round().to(torch.uint8)
