"""S3 APIs of the labs' object stores (MinIO on the instance) through boto3.

Short timeouts and no botocore retries (the runner retries transport faults itself), so a
dead or tarpit store costs what the check's budget says and no more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graders.errors import Failure, TransportError
from graders.evidence import Evidence

MAX_KEYS = 1000


class S3:
    def __init__(
        self, endpoint: str, access_key: str, secret_key: str, record: Callable[[Evidence], None]
    ) -> None:
        import boto3
        from botocore.config import Config

        self.endpoint = endpoint
        self.record = record
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
            config=Config(
                connect_timeout=3,
                read_timeout=5,
                retries={"total_max_attempts": 1},  # "max_attempts": 1 means two
                s3={"addressing_style": "path"},
            ),
        )

    def buckets(self) -> list[str]:
        doc = self._call("list buckets", self.client.list_buckets)
        names = [b["Name"] for b in doc.get("Buckets", [])]
        self.record(Evidence.make("api", f"S3 {self.endpoint}: {len(names)} buckets", names))
        return names

    def objects(self, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
        """Up to MAX_KEYS objects (key, size) of a bucket; a missing bucket is a Failure."""
        doc = self._call(
            f"list {bucket}",
            lambda: self.client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=MAX_KEYS),
        )
        objs = [{"key": o["Key"], "size": o.get("Size", 0)} for o in doc.get("Contents", [])]
        self.record(
            Evidence.make(
                "api",
                f"S3 {self.endpoint}/{bucket}: {len(objs)} objects"
                + (" (first page)" if doc.get("IsTruncated") else ""),
                objs[:200],
            )
        )
        return objs

    def tags(self, bucket: str, key: str) -> dict[str, str]:
        """An object's tags (GetObjectTagging), as a dict; recorded by the caller."""
        doc = self._call(
            f"get tags of {bucket}/{key}",
            lambda: self.client.get_object_tagging(Bucket=bucket, Key=key),
        )
        return {t["Key"]: t["Value"] for t in doc.get("TagSet", []) if "Key" in t}

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        try:
            return fn()
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise TransportError(
                f"S3 at {self.endpoint}: cannot connect ({exc})",
                help="Is MinIO running and port 9000 open?",
            ) from None
        except ReadTimeoutError:
            raise TransportError(f"S3 at {self.endpoint}: connected, no answer in time") from None
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code", "?")
            msg = f"S3 {what} at {self.endpoint}: {code} ({err.get('Message', '')})"
            self.record(Evidence.make("api", msg))
            raise Failure(msg) from None
        except BotoCoreError as exc:  # unparseable answers: not an S3 server
            msg = f"S3 {what} at {self.endpoint}: not an S3 answer ({type(exc).__name__})"
            self.record(Evidence.make("api", msg, str(exc)))
            raise Failure(msg) from None
