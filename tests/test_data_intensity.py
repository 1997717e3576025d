"""Real image data keeps its values: every bit depth, PIL mode and numpy dtype maps to [0, 1] as documented."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from halign_widgets.data import load_folder, load_npz
from halign_widgets.data._loading import resize
from halign_widgets.errors import ConfigError, InputShapeError, InvalidPixelError

U16 = np.array([[60000, 1000, 0, 65535], [30000, 1, 2, 40000]], np.uint16)   # 2×4 pixels
U12 = np.array([[4095, 1000, 0, 1], [2048, 3000, 7, 4094]], np.uint16)       # 12-bit values stored in 16 bits


def save(root: Path, name: str, img: Image.Image) -> Path:
    (root / "c").mkdir(parents=True, exist_ok=True)
    img.save(root / "c" / name)
    return root


def u16_png(arr: np.ndarray) -> Image.Image:
    img = Image.fromarray(arr.astype(np.uint16))
    assert img.mode == "I;16"
    return img


def one(root: Path, **kwargs: object) -> torch.Tensor:
    """The single image of ``root`` at its native size, as C×H×W."""
    ds = load_folder(root, size=None, **kwargs)  # type: ignore[arg-type]
    assert len(ds) == 1
    return ds.images[0]


def close(actual: torch.Tensor, expected: np.ndarray) -> bool:
    return torch.allclose(actual, torch.from_numpy(np.asarray(expected, np.float32)), atol=1e-7, rtol=0)


# -- folder: bit depths ---------------------------------------------------------------------------------------
def test_16bit_png_keeps_every_value(tmp_path: Path) -> None:
    x = one(save(tmp_path, "a.png", u16_png(U16)))
    assert x.shape == (1, 2, 4)
    assert close(x[0], U16 / 65535)
    assert float(x[0, 0, 0]) != float(x[0, 0, 1])                # 60000 and 1000 stay distinct (were both 1.0)
    assert float(x[0, 1, 1]) == pytest.approx(1 / 65535) and float(x[0, 1, 2]) == pytest.approx(2 / 65535)


def test_12bit_in_16bit_png(tmp_path: Path) -> None:
    root = save(tmp_path, "a.png", u16_png(U12))
    assert close(one(root)[0], U12 / 65535)                       # "dtype": by the container's range
    assert close(one(root, intensity=4095)[0], U12 / 4095)       # the stated maximum
    assert float(one(root, intensity=4095).max()) == 1.0
    lo, hi = U12.min(), U12.max()
    assert close(one(root, intensity="minmax")[0], (U12 - lo) / (hi - lo))
    with pytest.raises(InvalidPixelError,
                       match=r"a.png' holds pixel values up to 4095, above the stated maximum intensity=4000.*=4095"):
        load_folder(root, size=None, intensity=4000)


def test_8bit_and_1bit_and_pgm16(tmp_path: Path) -> None:
    g = np.array([[0, 1, 128, 255]], np.uint8)
    assert close(one(save(tmp_path / "l", "a.png", Image.fromarray(g)))[0], g / 255)
    b = np.array([[True, False, True]])
    img = Image.fromarray(b)
    assert img.mode == "1"
    assert close(one(save(tmp_path / "b", "a.png", img))[0], b.astype(float))
    save(tmp_path / "p", "a.pgm", u16_png(U16))                    # PIL reads 16-bit PGM as 32-bit "I"
    assert Image.open(tmp_path / "p" / "c" / "a.pgm").mode == "I"
    assert close(one(tmp_path / "p")[0], U16 / 65535)


def test_float_and_int32_tiff(tmp_path: Path) -> None:
    f = np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)
    assert close(one(save(tmp_path / "f", "a.tif", Image.fromarray(f)))[0], f)
    save(tmp_path / "g", "a.tif", Image.fromarray(f * 1000))
    with pytest.raises(InvalidPixelError,
                       match=r"a.tif' holds float pixels in \[0, 1000\].*intensity='minmax'.*intensity=1000"):
        load_folder(tmp_path / "g", size=None)
    assert close(one(tmp_path / "g", intensity=1000)[0], f)
    i = np.array([[0, 4095, 100, 7]], np.int32)
    save(tmp_path / "i", "a.tif", Image.fromarray(i))
    with pytest.raises(InvalidPixelError, match=r"int32 pixels with maximum 4095.*intensity=4095"):
        load_folder(tmp_path / "i", size=None)
    assert close(one(tmp_path / "i", intensity=4095)[0], i / 4095)


# -- folder: colour modes --------------------------------------------------------------------------------------
RGB = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)   # 1×4×3
LUMA = RGB.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255


def test_rgb_to_gray_by_luminance_and_back(tmp_path: Path) -> None:
    root = save(tmp_path, "a.png", Image.fromarray(RGB))
    assert close(one(root)[0], LUMA)
    assert float(one(root)[0, 0, 0]) == pytest.approx(0.299, abs=1e-6)
    pil = np.asarray(Image.fromarray(RGB).convert("L"), np.float64) / 255     # PIL's own (8-bit rounded) result
    assert np.abs(one(root)[0].numpy() - pil).max() <= 0.5 / 255 + 1e-6
    assert close(one(root, channels=3), RGB.transpose(2, 0, 1) / 255)


def test_rgba_drops_alpha(tmp_path: Path) -> None:
    alpha = np.array([[[0], [255], [7], [128]]], np.uint8)
    root = save(tmp_path, "a.png", Image.fromarray(np.concatenate([RGB, alpha], -1)))
    assert Image.open(root / "c" / "a.png").mode == "RGBA"
    assert close(one(root, channels=3), RGB.transpose(2, 0, 1) / 255)         # colour kept where alpha is 0
    assert close(one(root)[0], LUMA)


def test_palette_expands(tmp_path: Path) -> None:
    img = Image.new("P", (4, 1))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
    img.putdata([0, 1, 2, 3])
    root = save(tmp_path, "a.png", img)
    assert close(one(root, channels=3), RGB.transpose(2, 0, 1) / 255)
    assert close(one(root)[0], LUMA)
    img.info["transparency"] = 1                                             # palette with transparency
    save(tmp_path / "t", "a.png", img)
    assert Image.open(tmp_path / "t" / "c" / "a.png").info.get("transparency") == 1
    assert close(one(tmp_path / "t", channels=3), RGB.transpose(2, 0, 1) / 255)


def test_gray_alpha_and_gray_to_rgb(tmp_path: Path) -> None:
    la = np.stack([np.array([[0, 51, 255]], np.uint8), np.array([[255, 0, 9]], np.uint8)], -1)
    root = save(tmp_path, "a.png", Image.fromarray(la))
    assert Image.open(root / "c" / "a.png").mode == "LA"
    assert close(one(root)[0], la[..., 0] / 255)
    rgb = one(save(tmp_path / "g", "a.png", u16_png(U16)), channels=3)      # 16-bit gray replicated, not 8-bit
    assert rgb.shape == (3, 2, 4) and close(rgb, np.stack([U16 / 65535] * 3))


def test_resize_happens_after_scaling_in_float(tmp_path: Path) -> None:
    arr = np.zeros((16, 16), np.uint16)
    arr[:, :8], arr[:, 8:] = 1001, 1002                                       # one 16-bit step apart
    root = save(tmp_path, "a.png", u16_png(arr))
    x = load_folder(root, size=4).images
    expected = resize(torch.from_numpy((arr / 65535).astype(np.float32))[None, None], 4)
    assert torch.allclose(x, expected, atol=1e-7, rtol=0)
    assert float(x[0, 0, 0, 0]) == pytest.approx(1001 / 65535, abs=1e-7)      # not rounded to 8 bits
    assert float(x[0, 0, 0, 3]) == pytest.approx(1002 / 65535, abs=1e-7)


# -- npz: every numeric dtype -------------------------------------------------------------------------------------
def npz(tmp_path: Path, images: np.ndarray, name: str = "d.npz") -> Path:
    file = tmp_path / name
    np.savez(file, images=images, labels=np.zeros(len(images), np.int64))
    return file


@pytest.mark.parametrize("dtype, values, scale", [
    (np.uint8, [0, 1, 128, 255], 255), (np.uint16, [0, 1000, 60000, 65535], 65535),
    (np.int16, [0, 1, 1000, 32767], 32767), (np.int32, [0, 7, 1 << 30, 2_000_000_000], 2 ** 31 - 1),
    (np.float16, [0, 0.25, 0.5, 1], 1), (np.float32, [0, 1e-6, 0.3, 1], 1), (np.float64, [0, 1e-9, 0.7, 1], 1),
    (np.bool_, [0, 1, 1, 0], 1), (np.int8, [0, 1, 64, 127], 127),
    (np.uint32, [0, 7, 1 << 31, 2 ** 32 - 1], 2 ** 32 - 1), (np.int64, [0, 7, 1 << 62, 2 ** 63 - 1], 2 ** 63 - 1),
    (np.uint64, [0, 1 << 40, 1 << 63, 2 ** 64 - 1], 2 ** 64 - 1)])
def test_npz_dtypes(tmp_path: Path, dtype: type, values: list[float], scale: float) -> None:
    arr = np.array(values, dtype).reshape(1, 2, 2)
    x = load_npz(npz(tmp_path, np.concatenate([arr, arr[:, ::-1]]))).images
    assert x.dtype == torch.float32 and x.shape == (2, 1, 2, 2)
    assert torch.allclose(x[0, 0].double(), torch.from_numpy(arr[0].astype(np.float64) / scale), atol=1e-7, rtol=0)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64])
def test_npz_signed_integers_refuse_negative_values_but_minmax_takes_them(tmp_path: Path, dtype: type) -> None:
    arr = np.array([[[-128, -1], [0, 127]]], dtype)                            # int8's whole range
    with pytest.raises(InvalidPixelError, match=r"negative pixel values \(range \[-128, 127\]\).*'minmax'"):
        load_npz(npz(tmp_path, arr))
    assert close(load_npz(npz(tmp_path, arr), intensity="minmax").images[0, 0], (arr[0].astype(np.float64) + 128) / 255)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("intensity", ["dtype", "minmax", 1.0])
def test_npz_complex_pixels_are_refused_with_the_conversion(tmp_path: Path, dtype: type, intensity: object) -> None:
    arr = (np.array([[[0, 0.5], [0.25, 1]]]) * (1 + 0j)).astype(dtype)      # imaginary part 0: still refused
    with pytest.raises(InputShapeError, match=rf"complex pixels \(dtype {np.dtype(dtype).name}\).*numpy\.abs\(images\)"
                                              r".*images\.real"):
        load_npz(npz(tmp_path, arr), intensity=intensity)  # type: ignore[arg-type]


def test_npz_uint16_and_float_ranges(tmp_path: Path) -> None:
    x = load_npz(npz(tmp_path, U16[None])).images[0, 0]
    assert float(x[0, 0]) != float(x[0, 1]) and float(x.max()) == 1.0        # was /255: values up to 257
    f = np.linspace(0, 2, 8, dtype=np.float32).reshape(1, 2, 4)
    with pytest.raises(InvalidPixelError, match=r"\[0, 2\].*intensity='minmax'.*intensity=2, the largest"):
        load_npz(npz(tmp_path, f))                                             # was silently /255
    assert close(load_npz(npz(tmp_path, f), intensity=2).images[0, 0], f[0] / 2)
    neg = f - 1
    with pytest.raises(InvalidPixelError, match=r"\[-1, 1\].*negative values need intensity='minmax'"):
        load_npz(npz(tmp_path, neg))
    with pytest.raises(InvalidPixelError, match="negative"):
        load_npz(npz(tmp_path, neg), intensity=1)
    assert close(load_npz(npz(tmp_path, neg), intensity="minmax").images[0, 0], f[0] / 2)


def test_npz_integer_errors_and_stated_maximum(tmp_path: Path) -> None:
    with pytest.raises(InvalidPixelError, match=r"negative pixel values \(range \[-5, 9\]\).*'minmax'"):
        load_npz(npz(tmp_path, np.array([[[-5, 9]]], np.int16)))
    small = np.array([[[0, 200, 255]]], np.int64)                              # 8-bit values in an int64 array
    with pytest.raises(InvalidPixelError, match=r"int64 pixels with maximum 255.*intensity=255"):
        load_npz(npz(tmp_path, small))
    assert close(load_npz(npz(tmp_path, small), intensity=255).images[0, 0], small[0] / 255)
    with pytest.raises(InvalidPixelError, match=r"up to 255, above the stated maximum intensity=200"):
        load_npz(npz(tmp_path, small), intensity=200)


def test_npz_minmax_is_per_image(tmp_path: Path) -> None:
    arr = np.array([[[10, 20], [30, 50]], [[1000, 3000], [2000, 5000]], [[7, 7], [7, 7]]], np.uint16)
    x = load_npz(npz(tmp_path, arr), intensity="minmax").images[:, 0]
    assert close(x[0], (arr[0] - 10) / 40) and close(x[1], (arr[1] - 1000) / 4000)
    assert float(x[2].abs().max()) == 0.0                                      # constant image: 0
    rgba = np.random.default_rng(0).integers(0, 256, (2, 3, 3, 4)).astype(np.uint8)
    rgba[..., 3] = 255                                                         # alpha must not enter min-max
    y = load_npz(npz(tmp_path, rgba), intensity="minmax").images
    rgb = rgba[..., :3].transpose(0, 3, 1, 2).astype(np.float64)
    lo, hi = rgb.min((1, 2, 3), keepdims=True), rgb.max((1, 2, 3), keepdims=True)
    assert y.shape == (2, 3, 3, 3) and close(y, (rgb - lo) / (hi - lo))


@pytest.mark.parametrize("bad", ["mimax", "uint8", 0, -1, float("nan"), True, None, [255]])
def test_intensity_option_checked(tmp_path: Path, bad: object) -> None:
    file = npz(tmp_path, np.zeros((1, 2, 2), np.uint8))
    match = "did you mean 'minmax'" if bad == "mimax" else "intensity="
    with pytest.raises(ConfigError, match=match):
        load_npz(file, intensity=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="intensity="):
        load_folder(tmp_path, intensity=bad)  # type: ignore[arg-type]
