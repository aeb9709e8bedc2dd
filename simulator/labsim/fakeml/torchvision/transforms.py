"""torchvision.transforms: the five the lab composes, on PIL images and numpy tensors."""

from __future__ import annotations

from typing import Any

import numpy as np


class Compose:
    def __init__(self, steps: list[Any]) -> None:
        self.steps = steps

    def __call__(self, x: Any) -> Any:
        for step in self.steps:
            x = step(x)
        return x


class Resize:
    def __init__(self, size: tuple[int, int]) -> None:
        self.h, self.w = size

    def __call__(self, img: Any) -> Any:
        return img.resize((self.w, self.h))


class CenterCrop:
    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, img: Any) -> Any:
        w, h = img.size
        left, top = (w - self.size) // 2, (h - self.size) // 2
        return img.crop((left, top, left + self.size, top + self.size))


class ToTensor:
    def __call__(self, img: Any) -> Any:
        from torch import Tensor

        return Tensor(np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0)


class Normalize:
    def __init__(self, mean: list[float], std: list[float]) -> None:
        self.mean = np.array(mean, dtype=np.float32)[:, None, None]
        self.std = np.array(std, dtype=np.float32)[:, None, None]

    def __call__(self, t: Any) -> Any:
        from torch import Tensor

        return Tensor((t.data - self.mean) / self.std)
