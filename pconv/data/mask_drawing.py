"""Drawing primitives behind `pconv.data.masks`: brush strokes, boxes, binary morphology, mask augmentation.

Building blocks, not the user-facing API: masks come from `pconv.data` (`irregular_mask`,
`MaskGenerator`, `MaskFolder`).

Stroke families:
- ``"freeform"``: the free-form brush strokes of DeepFill v2 (Yu et al. 2019,
  arXiv:1806.03589): a polyline of 4-12 vertices whose turning angles alternate
  around 2*pi/5, segment lengths ~ N(r, r/2) with r = image diagonal / 8, one brush
  width of 12-40 px per stroke and round joints.
- ``"thin"`` / ``"medium"`` / ``"thick"``: the stroke families LaMa trains and
  evaluates on (Suvorov et al. 2022, arXiv:2109.07161, configs random_*_256):
  1-5 segments with random directions, lengths and widths, plus optional boxes.

Every length is given in pixels of a 256x256 image and multiplied by
`scale = sqrt(H * W) / 256`, so a 512 mask looks like a 256 mask enlarged.
A primitive is a plain tuple: ``("seg", x0, y0, x1, y1, width, start_cap)`` is a capsule
(a line with round caps, which gives DeepFill's round joints), ``("box", x0, y0, x1, y1)`` a
rectangle. Holes are drawn as 255 on a PIL "L" canvas (fast C drawing).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "BOX_PROBA",
    "FAMILIES",
    "area",
    "augment",
    "dilate",
    "draw",
    "draw_element",
    "grow_holes",
    "resize",
    "sample_element",
    "shrink",
    "strokes",
]

# Lengths in px at 256x256. "box": side range of LaMa-style rectangles for that family.
FAMILIES: dict[str, dict[str, tuple[float, float]]] = {
    "freeform": {"vertices": (4, 12), "width": (12, 40), "box": (20, 80)},  # DeepFill v2
    "thin": {"segments": (1, 5), "length": (10, 50), "width": (5, 15), "box": (10, 50)},
    "medium": {"segments": (1, 5), "length": (10, 110), "width": (5, 55), "box": (10, 50)},
    "thick": {"segments": (1, 5), "length": (10, 210), "width": (5, 105), "box": (30, 100)},
}
BOX_PROBA = 0.25  # chance that a drawn element is a box when boxes are on (LaMa draws them in ~30% of masks)


def _freeform_stroke(rng: np.random.Generator, h: int, w: int, scale: float) -> list[tuple]:
    """One DeepFill v2 brush stroke: a zig-zag polyline with a single brush width."""
    (v_lo, v_hi), (w_lo, w_hi) = FAMILIES["freeform"]["vertices"], FAMILIES["freeform"]["width"]
    u = rng.random(6 + v_hi).tolist()  # two rng calls per stroke: numpy calls dominate its cost
    z = rng.standard_normal(v_hi).tolist()
    n = int(v_lo + u[0] * (v_hi - v_lo + 1))
    radius = math.hypot(256, 256) / 8 * scale  # DeepFill: average radius = diagonal / 8
    mean, spread = 2 * math.pi / 5, 2 * math.pi / 15  # DeepFill's mean angle and angle range
    a_min, a_max = mean - u[1] * spread, mean + u[2] * spread
    width = (w_lo + u[3] * (w_hi - w_lo)) * scale
    x, y, prims = u[4] * w, u[5] * h, []
    for i in range(n):
        angle = a_min + u[6 + i] * (a_max - a_min)
        angle = 2 * math.pi - angle if i % 2 == 0 else angle  # alternate turns: the zig-zag look
        r = min(max(radius * (1 + z[i] / 2), 0.0), 2 * radius)  # N(radius, radius / 2), clipped
        x, y = _step(prims, x, y, r * math.cos(angle), r * math.sin(angle), width, i == 0, h, w)
    return prims


def _lama_stroke(rng: np.random.Generator, family: str, h: int, w: int, scale: float) -> list[tuple]:
    """One LaMa-style stroke: 1-5 connected segments, each with its own direction, length and width."""
    (n_lo, n_hi), (l_lo, l_hi), (w_lo, w_hi) = (FAMILIES[family][k] for k in ("segments", "length", "width"))
    u = rng.random(3 + 3 * n_hi).tolist()
    n = int(n_lo + u[0] * (n_hi - n_lo + 1))
    x, y, prims = u[1] * w, u[2] * h, []
    for i in range(n):
        angle = u[3 + 3 * i] * 2 * math.pi
        length = (l_lo + u[4 + 3 * i] * (l_hi - l_lo)) * scale
        width = (w_lo + u[5 + 3 * i] * (w_hi - w_lo)) * scale
        x, y = _step(prims, x, y, length * math.cos(angle), length * math.sin(angle), width, i == 0, h, w)
    return prims


def _step(
    prims: list, x: float, y: float, dx: float, dy: float, width: float, cap: bool, h: int, w: int
) -> tuple[float, float]:
    """Append the capsule from (x, y) by (dx, dy), its end clipped to the image; return the end."""
    nx, ny = min(max(x + dx, 0.0), w - 1.0), min(max(y + dy, 0.0), h - 1.0)
    prims.append(("seg", x, y, nx, ny, width, cap))  # cap: draw the start cap (a stroke's first segment)
    return nx, ny


def _box(rng: np.random.Generator, family: str, h: int, w: int, scale: float) -> list[tuple]:
    lo, hi = FAMILIES[family]["box"]
    bw, bh = min(rng.uniform(lo, hi) * scale, w), min(rng.uniform(lo, hi) * scale, h)
    x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    return [("box", x0, y0, x0 + bw, y0 + bh)]


def sample_element(rng: np.random.Generator, family: str, h: int, w: int, scale: float, boxes: bool) -> list[tuple]:
    """One stroke (or, when `boxes`, sometimes a box) of `family` as a list of primitives."""
    if boxes and rng.random() < BOX_PROBA:
        return _box(rng, family, h, w, scale)
    if family == "freeform":
        return _freeform_stroke(rng, h, w, scale)
    return _lama_stroke(rng, family, h, w, scale)


def area(prim: tuple) -> float:
    """Generous estimate of the pixels a primitive covers (rasterisation adds about a pixel of rim)."""
    if prim[0] == "box":
        return (prim[3] - prim[1] + 2) * (prim[4] - prim[2] + 2)
    _, x0, y0, x1, y1, wd, _ = prim
    return (math.hypot(x1 - x0, y1 - y0) + 2) * (wd + 2) + math.pi * (wd + 2) ** 2 / 4


def shrink(prim: tuple, f: float) -> tuple:
    """The primitive scaled by `f` around its start corner / start point (for overshoot repair)."""
    if prim[0] == "box":
        _, x0, y0, x1, y1 = prim
        return ("box", x0, y0, x0 + (x1 - x0) * f, y0 + (y1 - y0) * f)
    _, x0, y0, x1, y1, wd, cap = prim
    return ("seg", x0, y0, x0 + (x1 - x0) * f, y0 + (y1 - y0) * f, max(wd * f, 1.0), cap)


def draw_element(canvas: ImageDraw.ImageDraw, prims: list[tuple]) -> None:
    """Paint a whole element: a stroke of one brush width as one polyline call (Python overhead
    per call dominates the drawing of small segments), anything else primitive by primitive."""
    first = prims[0]
    if first[0] == "box" or any(p[5] != first[5] for p in prims):
        for prim in prims:
            draw(canvas, prim)
        return
    r, pts = first[5] / 2, [(first[1], first[2])] + [(p[3], p[4]) for p in prims]
    canvas.line(pts, fill=255, width=max(int(round(first[5])), 1))
    for x, y in pts:
        canvas.ellipse((x - r, y - r, x + r, y + r), fill=255)


def draw(canvas: ImageDraw.ImageDraw, prim: tuple) -> None:
    """Paint one primitive as hole (255)."""
    if prim[0] == "box":
        canvas.rectangle(prim[1:], fill=255)
        return
    _, x0, y0, x1, y1, wd, cap = prim
    r = wd / 2
    canvas.line((x0, y0, x1, y1), fill=255, width=max(int(round(wd)), 1))
    if cap:  # a stroke's first segment; later ones start on the last cap
        canvas.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=255)
    canvas.ellipse((x1 - r, y1 - r, x1 + r, y1 + r), fill=255)  # round caps = DeepFill's round joints


def dilate(a: np.ndarray, radius: int, cross: bool = False) -> np.ndarray:
    """Binary dilation of bool `a` (H, W): `radius` steps of a 3x3 neighbourhood.

    Steps alternate between the 8-neighbour square and the 4-neighbour cross, which
    grows an octagon (close to a disc) in O(radius * H * W) with no SciPy call;
    `cross=True` uses the cross only.
    """
    a = a.copy()
    for step in range(int(radius)):
        b = a.copy()
        b[1:] |= a[:-1]
        b[:-1] |= a[1:]
        if not cross and step % 2 == 0:  # square step: the column pass sees the row-dilated image
            a = b.copy()
        b[:, 1:] |= a[:, :-1]
        b[:, :-1] |= a[:, 1:]
        a = b
    return a


def grow_holes(hole: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Add exactly `k` hole pixels to bool `hole` (H, W), each touching the existing holes.

    The deterministic last resort of `irregular_mask`: ring by ring (4-neighbour
    dilation) it fills the pixels next to the strokes, picking a random subset of the
    last ring, so the hole count lands exactly where asked.
    """
    hole = hole.copy()
    if k > 0 and not hole.any():  # nothing to grow from: start at a random pixel
        hole.flat[int(rng.integers(hole.size))] = True
        k -= 1
    while k > 0:
        ring = np.flatnonzero(dilate(hole, 1, cross=True) & ~hole)
        if ring.size > k:
            ring = rng.choice(ring, size=k, replace=False)
        hole.flat[ring] = True
        k -= ring.size
    return hole


def _count(img: Image.Image) -> int:
    return int(np.count_nonzero(np.asarray(img)))  # faster than Image.histogram() here


def strokes(
    h: int, w: int, target: int, max_count: int, rng: np.random.Generator, family: str, boxes: bool, max_elements: int
) -> np.ndarray:
    """Draw elements of `family` until `target` hole pixels are covered, never more than `max_count`.

    Measuring the canvas costs more than drawing, so it is measured only once the
    generous area estimate says the target may be reached. On overshoot the new
    primitives are replayed one by one from the last measured state, each shrunk
    (1, 1/2, 1/4, 1/8) or dropped if it alone would overshoot.

    Returns:
        bool (H, W), True = hole, with at most `max_count` holes; fewer than `target`
        only when `max_elements` elements did not get there.
    """
    img = Image.new("L", (w, h), 0)
    pen = ImageDraw.Draw(img)
    scale = math.sqrt(h * w) / 256
    holes, safe, pending, bound = 0, img.copy(), [], 0.0  # `safe`: last measured state (<= max_count)
    for _ in range(max_elements):
        if holes >= target:
            break
        prims = sample_element(rng, family, h, w, scale, boxes)
        draw_element(pen, prims)
        pending += prims
        bound += sum(map(area, prims))
        if holes + bound < target:  # cannot have reached the target yet
            continue
        c = _count(img)
        if c > max_count:
            img = safe.copy()
            pen = ImageDraw.Draw(img)
            for prim in pending:
                for f in (1.0, 0.5, 0.25, 0.125):
                    before = img.copy()
                    draw(pen, shrink(prim, f))
                    c = _count(img)
                    if c <= max_count:
                        break
                    img, pen = before, ImageDraw.Draw(before)
                    c = holes
                holes = c
                if holes >= target:
                    break
        holes, safe, pending, bound = c, img.copy(), [], 0.0
    if pending and _count(img) > max_count:  # strokes drawn after the last measurement overshot
        img = safe
    return np.asarray(img) > 0


def augment(hole: np.ndarray, size: tuple[int, int], rng: np.random.Generator, dilation: tuple[int, int]) -> np.ndarray:
    """Random rotation, translation, crop, flips and dilation of bool holes (h, w) -> bool (H, W).

    Geometry uses nearest-neighbour on a 0/255 image, so the result stays binary;
    dilation runs after resizing (cheaper) with the kernel scaled from 512x512.
    """
    H, W = size
    h, w = hole.shape
    u = rng.random(9).tolist()
    img = Image.fromarray(hole.astype(np.uint8) * 255)
    img = img.rotate(
        360 * u[0], resample=Image.NEAREST, translate=((u[1] - 0.5) * 0.2 * w, (u[2] - 0.5) * 0.2 * h), fillcolor=0
    )  # corners turned in are valid
    f = 0.6 + 0.4 * u[3]  # crop side: 60-100%, at the output's aspect ratio
    cw, ch = min(w, f * min(w, h * W / H)), min(h, f * min(h, w * H / W))
    x0, y0 = u[4] * (w - cw), u[5] * (h - ch)
    out = np.asarray(img.resize((W, H), Image.NEAREST, box=(x0, y0, x0 + cw, y0 + ch))) > 127
    if u[6] < 0.5:
        out = out[:, ::-1]
    if u[7] < 0.5:
        out = out[::-1]
    kernel = (dilation[0] + u[8] * (dilation[1] - dilation[0])) * math.sqrt(H * W) / 512
    return dilate(np.ascontiguousarray(out), int(round((kernel - 1) / 2)))  # kernel k = radius (k - 1) / 2


def resize(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of bool (h, w) to size (H, W); stays binary."""
    img = Image.fromarray(hole.astype(np.uint8) * 255).resize(size[::-1], Image.NEAREST)
    return np.asarray(img) > 127
