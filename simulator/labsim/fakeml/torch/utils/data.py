"""torch.utils.data.DataLoader, sequential batches only (the lab's shuffle=False)."""

from __future__ import annotations

from typing import Any

import numpy as np


class DataLoader:
    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False) -> None:
        self.dataset, self.batch_size = dataset, batch_size

    def __iter__(self):  # noqa: ANN204
        from torch import Tensor

        n = len(self.dataset)
        for start in range(0, n, self.batch_size):
            items = [self.dataset[i] for i in range(start, min(n, start + self.batch_size))]
            images = np.stack([img.data for img, _ in items])
            yield Tensor(images), Tensor(np.array([label for _, label in items]))

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)
