"""A numpy-backed stand-in for the few torch calls eval-offline-chi's tests make (README.md)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np

from . import cuda, utils  # noqa: F401

MEAN, STD = 0.485, 0.229  # the lab's Normalize, red channel
CLASSES = 11


class device:  # noqa: N801 - torch's name
    def __init__(self, kind: str) -> None:
        self.type = kind

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"


class Tensor:
    def __init__(self, data: Any) -> None:
        self.data = np.asarray(data)

    def unsqueeze(self, dim: int) -> Tensor:
        return Tensor(np.expand_dims(self.data, dim))

    def to(self, *_: Any, **__: Any) -> Tensor:
        return self

    def cpu(self) -> Tensor:
        return self

    def numpy(self) -> np.ndarray:
        return self.data

    def argmax(self, dim: int) -> Tensor:
        return Tensor(self.data.argmax(axis=dim))

    def item(self) -> Any:
        return self.data.item()

    def size(self, dim: int | None = None) -> Any:
        return self.data.shape if dim is None else self.data.shape[dim]

    def __len__(self) -> int:
        return len(self.data)


def max(t: Tensor, dim: int) -> tuple[Tensor, Tensor]:  # noqa: A001 - torch's name
    return Tensor(t.data.max(axis=dim)), Tensor(t.data.argmax(axis=dim))


@contextlib.contextmanager
def no_grad():  # noqa: ANN201
    yield


class Model:
    """The course model, simulated: the class is read off the centre pixel's red value."""

    def eval(self) -> Model:
        return self

    def to(self, *_: Any, **__: Any) -> Model:
        return self

    def __call__(self, batch: Tensor) -> Tensor:
        x = batch.data
        red = x[:, 0, x.shape[2] // 2, x.shape[3] // 2] * STD + MEAN
        cls = np.clip(np.rint((red * 255 - 11) / 23), 0, CLASSES - 1).astype(int)
        return Tensor(np.eye(CLASSES, dtype=np.float32)[cls] * 10)


def load(path: str, map_location: Any = None, weights_only: bool = True) -> Model:
    with open(os.fspath(path), "rb") as f:  # FileNotFoundError as torch.load's
        f.read(1)
    return Model()
