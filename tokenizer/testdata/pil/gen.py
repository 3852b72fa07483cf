#!/usr/bin/env python3
"""Generate Pillow reference fixtures for tokenizer/image.go and tokenizer/resize.go.

Run from this directory with the system Python that has Pillow and NumPy
(Debian: apt-get install python3-pil python3-numpy):

    /usr/bin/python3 gen.py

It writes input PNGs (in_*.png), Pillow's outputs as raw interleaved RGB bytes
(*.rgb) and manifest.json describing every case. The Go tests only read these
files; they never run Python.

Cases:
  convert   : Image.open(png).convert('RGB')                     -> expected
  resize    : Image.open(png).convert('RGB').resize((nw, nh))    -> expected
              (default resample = BICUBIC, exactly what the LVM code does)
  post      : (torch-style) float32 clamp(0,1) * 255 -> uint8 truncation
"""
import json
import os
import struct
import zlib

import numpy as np
import PIL
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240613)
manifest = {"pillow": PIL.__version__, "numpy": np.__version__, "cases": []}


def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def raw_png(path, w, h, bitdepth, colortype, rows, extra=b""):
    """Write a PNG by hand (filter 0 rows) so that any bit depth/colour type is possible."""
    ihdr = struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0)
    data = b"".join(b"\x00" + r for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
                chunk(b"IDAT", zlib.compress(data, 9)) + chunk(b"IEND", b""))


def pack_bits(vals, depth):
    """Pack a row of small integers MSB-first at the given bit depth (1, 2, 4)."""
    out, acc, n = bytearray(), 0, 0
    for v in vals:
        acc = (acc << depth) | int(v)
        n += depth
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


def rgb_of(im):
    a = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return a.tobytes()


def add(kind, name, png, w, h, out, **kw):
    with open(os.path.join(HERE, name + ".rgb"), "wb") as f:
        f.write(out)
    case = {"kind": kind, "name": name, "input": png, "w": w, "h": h,
            "expected": name + ".rgb"}
    case.update(kw)
    manifest["cases"].append(case)


def smooth_noise(w, h, extremes=True):
    """Gradients plus noise plus a few hard 0/255 edges (to exercise clipping)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([
        127 + 120 * np.sin(xx / max(w, 1) * 6.3 + yy / max(h, 1) * 2.0),
        127 + 120 * np.cos(yy / max(h, 1) * 5.1),
        (xx * 7 + yy * 3) % 256,
    ], axis=-1)
    base += rng.normal(0, 8, base.shape)
    a = np.clip(base, 0, 255).astype(np.uint8)
    if extremes:
        a[:, w // 3: w // 3 + max(1, w // 9)] = 255
        a[h // 2: h // 2 + max(1, h // 7), :, 1] = 0
    return a


def noise(w, h):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------- resize cases
resize_cases = [
    # (w, h, nw, nh, content)
    (37, 23, 64, 64, "smooth"),      # upscale both
    (101, 77, 64, 64, "smooth"),     # downscale both
    (50, 61, 33, 17, "noise"),       # non-square down
    (13, 9, 40, 25, "noise"),        # non-square up
    (7, 300, 64, 64, "noise"),       # extreme ratio
    (300, 2, 33, 17, "noise"),       # extreme ratio
    (1, 1, 5, 3, "noise"),           # single pixel
    (5, 5, 1, 1, "noise"),           # to a single pixel
    (64, 40, 64, 64, "noise"),       # vertical pass only
    (40, 64, 64, 64, "noise"),       # horizontal pass only
    (64, 64, 64, 64, "noise"),       # identity (copy)
    (211, 157, 64, 64, "smooth"),    # typical down, odd size
    (240, 180, 128, 128, "smooth"),  # photo-like 4:3, non-integer shrink
    (1000, 3, 10, 3, "noise"),       # 100x horizontal shrink only
    (3, 3, 97, 2, "noise"),          # up in x, down in y
]
for i, (w, h, nw, nh, content) in enumerate(resize_cases):
    a = smooth_noise(w, h) if content == "smooth" else noise(w, h)
    png = "in_resize_%02d_%dx%d.png" % (i, w, h)
    Image.fromarray(a, "RGB").save(os.path.join(HERE, png), optimize=True)
    im = Image.open(os.path.join(HERE, png)).convert("RGB")
    out = im.resize((nw, nh))
    add("resize", "resize_%02d_%dx%d_to_%dx%d" % (i, w, h, nw, nh), png, w, h,
        rgb_of(out), nw=nw, nh=nh)

# ---------------------------------------------------------------- conversion cases
W, H = 23, 17


def conv_case(name, png, resize_to=(19, 29)):
    path = os.path.join(HERE, png)
    im = Image.open(path)
    mode = im.mode
    info = {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in im.info.items() if k == "transparency" and not isinstance(v, bytes)}
    rgb = im.convert("RGB")
    add("convert", "convert_" + name, png, W, H, rgb_of(rgb), pil_mode=mode, **info)
    nw, nh = resize_to
    add("resize", "convert_%s_to_%dx%d" % (name, nw, nh), png, W, H,
        rgb_of(rgb.resize((nw, nh))), nw=nw, nh=nh, pil_mode=mode)


# 8-bit gray (Go: *image.Gray)
g = rng.integers(0, 256, (H, W), dtype=np.uint8)
Image.fromarray(g, "L").save(os.path.join(HERE, "in_gray8.png"))
conv_case("gray8", "in_gray8.png")

# 8-bit gray + alpha (Go: *image.NRGBA)
ga = rng.integers(0, 256, (H, W, 2), dtype=np.uint8)
ga[0, :, 1] = 0
Image.fromarray(ga, "LA").save(os.path.join(HERE, "in_gray8_alpha.png"))
conv_case("gray8_alpha", "in_gray8_alpha.png")

# 8-bit RGBA with alpha 0 and partial alpha (Go: *image.NRGBA)
rgba = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
rgba[:3, :, 3] = 0
Image.fromarray(rgba, "RGBA").save(os.path.join(HERE, "in_rgba8.png"))
conv_case("rgba8", "in_rgba8.png")

# 8-bit RGB with a tRNS colour key (Go: *image.NRGBA)
rgb8 = rng.integers(0, 4, (H, W, 3), dtype=np.uint8) * 85
raw_png(os.path.join(HERE, "in_rgb8_trns.png"), W, H, 8, 2,
        [rgb8[y].tobytes() for y in range(H)],
        chunk(b"tRNS", struct.pack(">HHH", 85, 170, 0)))
conv_case("rgb8_trns", "in_rgb8_trns.png")

# 8-bit gray with a tRNS key (Go: *image.NRGBA)
g8 = rng.integers(0, 4, (H, W), dtype=np.uint8) * 60
raw_png(os.path.join(HERE, "in_gray8_trns.png"), W, H, 8, 0,
        [g8[y].tobytes() for y in range(H)], chunk(b"tRNS", struct.pack(">H", 120)))
conv_case("gray8_trns", "in_gray8_trns.png")

# 16-bit RGB (Go: *image.RGBA64). Pillow keeps the high byte of each sample.
r16 = rng.integers(0, 65536, (H, W, 3), dtype=np.uint16)
r16[0, :5, 0] = [0, 255, 256, 0xFF00, 0xFFFF]
raw_png(os.path.join(HERE, "in_rgb16.png"), W, H, 16, 2,
        [r16[y].astype(">u2").tobytes() for y in range(H)])
conv_case("rgb16", "in_rgb16.png")

# 16-bit RGBA (Go: *image.NRGBA64)
r16a = rng.integers(0, 65536, (H, W, 4), dtype=np.uint16)
r16a[1, :, 3] = 0
raw_png(os.path.join(HERE, "in_rgba16.png"), W, H, 16, 6,
        [r16a[y].astype(">u2").tobytes() for y in range(H)])
conv_case("rgba16", "in_rgba16.png")

# 16-bit gray (Go: *image.Gray16). Pillow opens it as mode I (I;16 in newer
# versions) and convert('RGB') CLIPS the 16-bit value to 0..255.
g16 = np.concatenate([
    rng.integers(0, 300, (H, W // 2), dtype=np.uint16),
    rng.integers(0, 65536, (H, W - W // 2), dtype=np.uint16)], axis=1)
g16[0, :6] = [0, 1, 254, 255, 256, 65535]
raw_png(os.path.join(HERE, "in_gray16.png"), W, H, 16, 0,
        [g16[y].astype(">u2").tobytes() for y in range(H)])
conv_case("gray16", "in_gray16.png")

# 16-bit gray + alpha (Go: *image.NRGBA64). Pillow: mode LA/RGBA, high byte.
g16a = rng.integers(0, 65536, (H, W, 2), dtype=np.uint16)
raw_png(os.path.join(HERE, "in_gray16_alpha.png"), W, H, 16, 4,
        [g16a[y].astype(">u2").tobytes() for y in range(H)])
conv_case("gray16_alpha", "in_gray16_alpha.png")

# 8-bit palette with a partial tRNS (Go: *image.Paletted with color.NRGBA entries)
npal = 40
pal = rng.integers(0, 256, (npal, 3), dtype=np.uint8)
trns = rng.integers(0, 256, 25, dtype=np.uint8)
trns[0] = 0
idx = rng.integers(0, npal, (H, W), dtype=np.uint8)
raw_png(os.path.join(HERE, "in_pal8_trns.png"), W, H, 8, 3,
        [idx[y].tobytes() for y in range(H)],
        chunk(b"PLTE", pal.tobytes()) + chunk(b"tRNS", trns.tobytes()))
conv_case("pal8_trns", "in_pal8_trns.png")

# 4-bit palette without tRNS (Go: *image.Paletted with color.RGBA entries)
pal4 = rng.integers(0, 256, (16, 3), dtype=np.uint8)
idx4 = rng.integers(0, 16, (H, W), dtype=np.uint8)
raw_png(os.path.join(HERE, "in_pal4.png"), W, H, 4, 3,
        [pack_bits(idx4[y], 4) for y in range(H)], chunk(b"PLTE", pal4.tobytes()))
conv_case("pal4", "in_pal4.png")

# 1-, 2- and 4-bit gray (Go: *image.Gray scaled to 8 bits)
for depth in (1, 2, 4):
    gv = rng.integers(0, 1 << depth, (H, W), dtype=np.uint8)
    png = "in_gray%d.png" % depth
    raw_png(os.path.join(HERE, png), W, H, depth, 0, [pack_bits(gv[y], depth) for y in range(H)])
    conv_case("gray%d" % depth, png)

# ---------------------------------------------------------------- postprocess
# torch: (x.clamp(0, 1) * 255).to(torch.uint8) on float32; NumPy float32 has
# the same IEEE single arithmetic. NaN is left out (torch's NaN->uint8 is UB).
vals = np.concatenate([
    np.array([-1.0, -0.0, 0.0, 1e-9, 0.5, 0.999, 1.0, 1.0001, 7.5], dtype=np.float32),
    (np.arange(256, dtype=np.float32) / np.float32(255)),        # the preprocess values
    rng.uniform(-0.1, 1.1, 200).astype(np.float32),
]).astype(np.float32)
post = (np.clip(vals, np.float32(0), np.float32(1)) * np.float32(255)).astype(np.uint8)
with open(os.path.join(HERE, "post.f32"), "wb") as f:
    f.write(vals.astype("<f4").tobytes())
with open(os.path.join(HERE, "post.u8"), "wb") as f:
    f.write(post.tobytes())
manifest["post"] = {"values": "post.f32", "expected": "post.u8", "count": int(vals.size)}

with open(os.path.join(HERE, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
    f.write("\n")
print("%d cases" % len(manifest["cases"]))
