"""Which files of a class-folder tree are images, and which mask file belongs to each (private).

Two mask layouts are understood:

- a **parallel folder** (``masks="path/to/masks"``) with the same class sub-folders and file names
  as the image folder (``masks/benign/a.png`` for ``benign/a.png``); with ``mask_suffix`` too the
  names carry the suffix (``masks/benign/a_mask.png``);
- masks **beside** their images (``mask_suffix="_mask"``): ``benign/a.png`` + ``benign/a_mask.png``;
  files whose name ends in the suffix are masks, not images.

A mask may use another image extension than its image (``a.jpg`` + ``a_mask.png``); the image's own
extension is preferred. Files with other extensions and hidden files are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataLoadError, EmptyDatasetError

__all__ = ["IMAGE_EXTENSIONS", "Entry", "list_entries"]

#: File extensions :func:`~halign_widgets.data.load_folder` reads as images (other files are ignored).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


@dataclass(frozen=True)
class Entry:
    """One image to load: its file, class index and mask file (``None`` without masks)."""

    image: Path
    label: int
    mask: Path | None = None


def _image_files(folder: Path) -> list[Path]:
    try:
        return sorted(f for f in folder.iterdir()
                      if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."))
    except PermissionError as exc:
        raise DataLoadError(f"permission denied listing folder {str(folder)!r}; make it readable (chmod a+rx) or "
                            "run as a user who may read it.") from exc
    except OSError as exc:
        raise DataLoadError(f"cannot list folder {str(folder)!r} ({exc.strerror or exc}).") from exc


def _find_mask(image: Path, candidates: dict[str, list[Path]], suffix: str) -> Path | None:
    options = candidates.get(image.stem + suffix, [])
    same = [p for p in options if p.suffix.lower() == image.suffix.lower()]
    return (same or options)[0] if same or options else None


def _by_stem(files: list[Path]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for f in files:
        out.setdefault(f.stem, []).append(f)
    return out


def list_entries(root: Path, classes: list[str], masks: Path | None, suffix: str | None) -> list[Entry]:
    """Every image of ``root/<class>/`` with its label and mask, in class then file-name order.

    Raises
    ------
    DataLoadError
        A class folder cannot be listed; the mask folder lacks a class sub-folder; an image has no
        mask file (the message names the image and where its mask was looked for); a mask beside
        the images has no image.
    """
    entries: list[Entry] = []
    for k, name in enumerate(classes):
        files, mask_files = _image_files(root / name), []
        if masks is None and suffix is not None:
            mask_files = [f for f in files if f.stem.endswith(suffix)]
            files = [f for f in files if not f.stem.endswith(suffix)]
        if not files:
            raise EmptyDatasetError(f"class sub-folder {str(root / name)!r} holds no image files "
                                    f"({', '.join(IMAGE_EXTENSIONS[:4])} …); add images or remove the folder.")
        if masks is None and suffix is None:
            entries += [Entry(f, k) for f in files]
            continue
        if masks is None:
            where = root / name
        else:
            where = masks / name
            if not where.is_dir():
                raise DataLoadError(f"mask folder {str(masks)!r} has no sub-folder {name!r} for class {name!r}; "
                                    "give it the same class sub-folders as the image folder.")
            mask_files = _image_files(where)
        candidates = _by_stem(mask_files)
        used: set[Path] = set()
        for f in files:
            mask = _find_mask(f, candidates, suffix or "")
            if mask is None:
                expected = str(where / (f.stem + (suffix or "") + f.suffix))
                raise DataLoadError(f"image {str(f)!r} has no mask: expected {expected!r} (or another image "
                                    "extension); add the mask, or move the image out of the folder.")
            used.add(mask)
            entries.append(Entry(f, k, mask))
        orphans = [m for m in mask_files if m not in used] if masks is None else []
        if orphans:
            first = orphans[0]
            image = first.with_name(first.stem[:len(first.stem) - len(suffix or "")] + first.suffix)
            raise DataLoadError(f"mask {str(first)!r} has no image (expected {str(image)!r}); add the image, "
                                "rename the mask, or remove it.")
    return entries
