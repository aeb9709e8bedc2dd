from . import datasets, transforms  # noqa: F401
