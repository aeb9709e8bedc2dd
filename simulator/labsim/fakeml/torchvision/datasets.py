"""torchvision.datasets.ImageFolder: one class per sub-folder, sorted, as torchvision does."""

from __future__ import annotations

import os
from typing import Any

from PIL import Image

EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _host_path(path: str) -> str:
    """The simulator runs the container's process on the host: a container path under a
    volume (LABSIM_MOUNTS="dest=source;...") is read where the volume really is."""
    for pair in os.environ.get("LABSIM_MOUNTS", "").split(";"):
        dest, _, source = pair.partition("=")
        if dest and (path == dest or path.startswith(dest.rstrip("/") + "/")):
            return source + path[len(dest.rstrip("/")) :]
    return path


class ImageFolder:
    def __init__(self, root: str, transform: Any = None) -> None:
        root = _host_path(root)
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir())  # FileNotFoundError
        if not classes:
            raise FileNotFoundError(f"Couldn't find any class folder in {root}.")
        self.classes, self.transform = classes, transform
        self.samples = [
            (os.path.join(root, c, f), i)
            for i, c in enumerate(classes)
            for f in sorted(os.listdir(os.path.join(root, c)))
            if f.lower().endswith(EXTENSIONS)
        ]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        img = Image.open(path).convert("RGB")
        return (self.transform(img) if self.transform else img), label
