"""S3 APIs of the labs' object stores (MinIO on the instance): signed requests, bounded answers.

The store is the student's, so its answers are untrusted: an endless listing, a drip, or an
XML bomb must cost the grader a few MiB and a few seconds, no more. A listing is followed page
after page (continuation tokens), within a number of pages and a time for them all. Each
request is signed with botocore's SigV4 (MinIO checks it as S3 does) and sent through the HTTP
probe, which gives it a connect timeout, a total deadline and a byte cap; the answer is parsed
by expat with every DTD feature refused (graders/probes/xmlsafe.py). No retries here: the
runner retries transport faults itself.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from graders.errors import Failure, TransportError
from graders.evidence import Evidence
from graders.probes import xmlsafe
from graders.probes.http import Http

MAX_KEYS = 1000  # objects asked for, and accepted, per page of a listing (S3's page size)
MAX_PAGES = 50  # pages followed per listing: 50,000 keys, far more than any lab's bucket holds
LIST_DEADLINE_S = 60.0  # for all the pages of one listing together
MAX_BYTES = 2 << 20  # of one answer: a page of 1,000 keys of 1 KiB each is about 1.5 MiB
REGION = "us-east-1"  # MinIO's default, which the labs keep
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 3.0, 5.0  # the whole answer within their sum


class S3:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        record: Callable[[Evidence], None],
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        max_bytes: int = MAX_BYTES,
        page_keys: int = MAX_KEYS,
    ) -> None:
        from botocore.credentials import Credentials

        self.endpoint = endpoint.rstrip("/")
        self.record = record
        self.credentials = Credentials(access_key, secret_key)
        self.max_bytes = max_bytes
        self.page_keys = page_keys  # keys asked for per page (S3's default page; tests: fewer)
        self._exchange: list[Evidence] = []  # the HTTP probe's record of the last exchange
        self.http = Http(
            self._exchange.append,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_body=max_bytes,
        )

    def buckets(self) -> list[str]:
        root = self._get("list buckets", "/")
        names = [
            xmlsafe.text_of(b, "Name") or ""
            for found in xmlsafe.children(root, "Buckets")
            for b in xmlsafe.children(found, "Bucket")
        ]
        self.record(Evidence.make("api", f"S3 {self.endpoint}: {len(names)} buckets", names))
        return names

    def objects(self, bucket: str, prefix: str = "", *, max_pages: int = MAX_PAGES) -> Listing:
        """The objects (key, size) of a bucket, page after page (continuation tokens), up to
        `max_pages` pages of MAX_KEYS keys and LIST_DEADLINE_S in all. A missing bucket is a
        Failure, and so is a page of more than MAX_KEYS objects or MAX_BYTES. A listing the
        grader stopped reading (too many pages, too slow, a continuation token repeated or
        missing) is returned as far as it was read, `complete` False and `stopped` saying why:
        the caller judges whether what it looks for could lie beyond."""
        what = f"list {bucket}"
        listing = Listing()
        token, seen = "", set()
        deadline = time.monotonic() + LIST_DEADLINE_S
        while True:
            query = {"list-type": "2", "max-keys": str(self.page_keys)}
            if prefix:
                query["prefix"] = prefix
            if token:
                query["continuation-token"] = token
            root = self._get(what, f"/{quote(bucket, safe='')}", query)
            contents = xmlsafe.children(root, "Contents")
            if len(contents) > self.page_keys:
                raise self._failure(
                    what,
                    f"listed {len(contents)} objects when asked for at most {self.page_keys}",
                )
            listing.extend(self._object(what, c) for c in contents)
            listing.pages += 1
            if xmlsafe.text_of(root, "IsTruncated") != "true":
                break
            seen.add(token)
            token = xmlsafe.text_of(root, "NextContinuationToken") or ""
            if not token or token in seen:
                listing.stopped = "it said there was more but gave " + (
                    "the same continuation token again" if token else "no continuation token"
                )
            elif listing.pages >= max_pages:
                listing.at_limit = True
                listing.stopped = (
                    f"the grader reads at most {max_pages} pages of {self.page_keys} keys"
                )
            elif time.monotonic() > deadline:
                listing.stopped = f"the grader reads for at most {LIST_DEADLINE_S:.0f} s"
            if listing.stopped:
                break
        self.record(
            Evidence.make(
                "api",
                f"S3 {self.endpoint}/{bucket}: {len(listing)} objects in {listing.pages} "
                f"page{'s' if listing.pages != 1 else ''}"
                + (f"; stopped reading: {listing.stopped}" if listing.stopped else ""),
                listing[:200],
            )
        )
        return listing

    def tags(self, bucket: str, key: str) -> dict[str, str]:
        """An object's tags (GetObjectTagging), as a dict; recorded by the caller."""
        path = f"/{quote(bucket, safe='')}/{quote(key, safe='/~')}"
        root = self._get(f"get tags of {bucket}/{key}", path, {"tagging": ""})
        return {
            k: xmlsafe.text_of(tag, "Value") or ""
            for found in xmlsafe.children(root, "TagSet")
            for tag in xmlsafe.children(found, "Tag")
            if (k := xmlsafe.text_of(tag, "Key"))
        }

    # --- one request ---------------------------------------------------------------------------
    def _get(self, what: str, path: str, query: dict[str, str] | None = None) -> ET.Element:
        """GET path?query, signed; the XML document of a 200 answer. An S3 error answer is a
        Failure with its code; an answer too large, too slow or not S3's XML is a Failure
        too; no answer at all is a TransportError."""
        url = self.endpoint + path + (f"?{_query(query)}" if query else "")
        self._exchange.clear()
        try:
            resp = self.http.send("GET", url, headers=self._signed("GET", url))
        except TransportError as exc:
            self._keep_exchange()
            help = "Is MinIO running and port 9000 open?" if exc.unreachable else exc.help
            raise TransportError(
                f"S3 {what} at {self.endpoint}: {exc.message}",
                unreachable=exc.unreachable,
                help=help,
            ) from None
        except Failure as exc:  # it answered, then stalled past the deadline, or redirected
            self._keep_exchange()
            raise Failure(f"S3 {what} at {self.endpoint}: {exc.message}", exc.help) from None
        if resp.truncated:
            raise self._failure(
                what,
                f"answered more than {self.max_bytes >> 20} MiB; the grader stopped reading",
            )
        try:
            root = xmlsafe.parse(resp.body)
        except xmlsafe.XmlError as exc:
            raise self._failure(
                what, f"HTTP {resp.status} is not an S3 answer: its body {exc}"
            ) from None
        if resp.status != 200 or xmlsafe.local(root.tag) == "Error":
            code = xmlsafe.text_of(root, "Code") or f"HTTP {resp.status}"
            raise self._failure(what, f"{code} ({xmlsafe.text_of(root, 'Message') or ''})")
        return root

    def _signed(self, method: str, url: str) -> dict[str, str]:
        """The headers that authenticate a request to S3 (AWS Signature Version 4)."""
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url)
        S3SigV4Auth(self.credentials, "s3", REGION).add_auth(request)
        return {k: str(v) for k, v in request.headers.items()}

    def _object(self, what: str, el: ET.Element) -> dict[str, Any]:
        key, size = xmlsafe.text_of(el, "Key"), xmlsafe.text_of(el, "Size") or "0"
        if not key or not size.isascii() or not size.isdigit() or len(size) > 18:
            problem = f"listed an object without a key and a size ({key!r}, {size[:40]!r})"
            raise self._failure(what, problem)
        return {"key": key, "size": int(size)}

    def _failure(self, what: str, problem: str) -> Failure:
        self._keep_exchange()
        msg = f"S3 {what} at {self.endpoint}: {problem}"
        self.record(Evidence.make("api", msg))
        return Failure(msg)

    def _keep_exchange(self) -> None:
        """Record the HTTP exchange behind a failure; a good one is summed up by the caller."""
        for ev in self._exchange:
            self.record(ev)
        self._exchange.clear()


class Listing(list[dict[str, Any]]):
    """A bucket's objects ({key, size}) as far as they were read: `pages` read, and `stopped`
    saying why the grader stopped before the end ("" when it read them all); `at_limit`: it
    stopped at its own bound on pages (the store answered as S3 does, there were just more)."""

    pages: int = 0
    stopped: str = ""
    at_limit: bool = False

    @property
    def complete(self) -> bool:
        return not self.stopped


def _query(params: dict[str, str]) -> str:
    """A query string as SigV4 signs it: sorted, every byte but A-Z a-z 0-9 - _ . ~ escaped;
    an empty value is a bare name (`?tagging`)."""
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" if v else quote(k, safe="-_.~")
        for k, v in sorted(params.items())
    )
