"""The instance's S3 API (MinIO, on the lab's `s3` port, with lab.yaml's keys) and its
buckets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graders.checks import Lab

if TYPE_CHECKING:
    from graders.probes.s3 import S3, Listing


def lab_s3(lab: Lab) -> S3:
    """The instance's S3 API (MinIO) on the lab's `s3` port, with lab.yaml's keys."""
    cfg = lab.config["s3"]
    return lab.s3(f"http://{lab.address}:{lab.port('s3')}", cfg["access_key"], cfg["secret_key"])


def bucket_objects(lab: Lab) -> Listing:
    """Objects of the lab's bucket, through the instance's S3 API (MinIO) with lab.yaml's keys:
    every page, as far as the probe reads (graders/probes/s3.py: Listing)."""
    return lab_s3(lab).objects(lab.config["s3"]["bucket"])
