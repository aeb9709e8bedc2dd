"""The labs' MinIO S3 API (port 9000): moto's S3 server, one process per host, with MinIO's
authentication in front.

Every host gets its own moto server process (forked from one warm supervisor, see zygote.py),
because moto's state is global to a process and bucket names are unique across its accounts:
two instances both holding `mlflow-artifacts` need two processes. The courses' MinIO runs as
`MINIO_ROOT_USER=your-access-key`, `MINIO_ROOT_PASSWORD=your-secret-key`, so in front of moto
sits what MinIO checks before anything else (moto alone accepts any credentials, which would
hide a grader that sends the wrong ones):
* no credentials: 403 AccessDenied;
* an unknown access key: 403 InvalidAccessKeyId;
* a signature made with another secret: 403 SignatureDoesNotMatch (AWS Signature V4, header or
  presigned query, verified here as MinIO does);
* a request signed for another region than MinIO's us-east-1: 400 AuthorizationHeaderMalformed.
Then moto answers as S3 does (path-style, as clients of an IP endpoint use it).

The supervisor is `main()` here, run by zygote.Zygote; the classroom uses `S3Fleet`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .zygote import Zygote, become_subreaper, emit, listen, serve_children, supervise

ACCESS_KEY, SECRET_KEY, REGION = "your-access-key", "your-secret-key", "us-east-1"
PORT = 9000

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-f]+)"
)


class S3Fleet:
    """Client side: one moto S3 server per address, on port 9000."""

    def __init__(self, addresses: list[str], workdir: Path) -> None:
        self.addresses = list(addresses)
        self._zygote = Zygote(
            "labsim.s3sim",
            {"addresses": self.addresses, "port": PORT},
            workdir,
        )

    def start(self) -> None:
        if self.addresses:
            self._zygote.start()

    def wait(self, timeout: float = 30.0) -> None:
        if self.addresses:
            self._zygote.read(timeout)  # every server is listening

    def pids(self) -> list[int]:
        return self._zygote.pids()

    def logs(self) -> str:
        return self._zygote.logs()

    def stop(self) -> None:
        self._zygote.stop()


def client(address: str, **config: Any) -> Any:
    """A boto3 S3 client for a host's store, as the lab's containers configure one."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=f"http://{address}:{PORT}",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=Config(retries={"max_attempts": 2}, **config),
    )


# ---- MinIO's authentication ------------------------------------------------------------------
def _error(code: str, message: str, status: str, environ: dict[str, Any]) -> tuple[str, bytes]:
    path = environ.get("PATH_INFO", "/")
    bucket = path.strip("/").split("/", 1)[0]
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        + (f"<BucketName>{bucket}</BucketName>" if bucket else "")
        + f"<Resource>{path}</Resource><RequestId>{request_id}</RequestId>"
        "<HostId>dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8</HostId></Error>"
    )
    return status, body.encode()


def _header(environ: dict[str, Any], name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return environ.get(key)
    return environ.get("HTTP_" + key)


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def check_auth(environ: dict[str, Any]) -> tuple[str, bytes] | None:
    """None when MinIO would let the request through; else (status line, XML error body)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    path, _, query = raw.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    authorization = _header(environ, "authorization")
    if authorization and authorization.startswith("AWS "):  # Signature V2
        access_key, _, signature = authorization[4:].partition(":")
        return _check_v2(environ, path, params, access_key, signature, None)
    if authorization:
        match = _AUTH.match(authorization)
        if not match:
            return _error(
                "AuthorizationHeaderMalformed",
                "The authorization header is malformed; the authorization header requires three"
                " components: Credential, SignedHeaders, and Signature.",
                "400 Bad Request",
                environ,
            )
        credential, signed, signature = match["cred"], match["signed"], match["sig"]
        amz_date = _header(environ, "x-amz-date") or ""
        payload = _header(environ, "x-amz-content-sha256") or "UNSIGNED-PAYLOAD"
        pairs = [p for p in query.split("&") if p] if query else []
    elif "AWSAccessKeyId" in params and "Signature" in params:  # SigV2 presigned URL
        return _check_v2(
            environ, path, params, params["AWSAccessKeyId"], params["Signature"], params["Expires"]
        )
    elif "X-Amz-Credential" in params and "X-Amz-Signature" in params:
        credential, signed = params["X-Amz-Credential"], params["X-Amz-SignedHeaders"]
        signature, amz_date = params["X-Amz-Signature"], params.get("X-Amz-Date", "")
        payload = "UNSIGNED-PAYLOAD"
        pairs = [p for p in query.split("&") if p and not p.startswith("X-Amz-Signature=")]
    else:
        return _error("AccessDenied", "Access Denied.", "403 Forbidden", environ)
    parts = credential.split("/")
    if len(parts) != 5:
        return _error(
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
            "400 Bad Request",
            environ,
        )
    access_key, date, region, service, _ = parts
    if access_key != ACCESS_KEY:
        return _error(
            "InvalidAccessKeyId",
            "The Access Key Id you provided does not exist in our records.",
            "403 Forbidden",
            environ,
        )
    if region != REGION:
        return _error(
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; the region is wrong; expecting '{REGION}'.",
            "400 Bad Request",
            environ,
        )
    headers = []
    for name in signed.split(";"):
        value = _header(environ, name) or ""
        headers.append(f"{name}:{' '.join(value.split())}")
    query_pairs = sorted(p if "=" in p else p + "=" for p in pairs)
    canonical = "\n".join(
        [
            environ["REQUEST_METHOD"],
            path,
            "&".join(query_pairs),
            "\n".join(headers) + "\n",
            signed,
            payload,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _signing_key(SECRET_KEY, date, region, service)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return _signature_check(expected, signature, environ)


# Sub-resources that AWS Signature V2 signs as part of the resource (botocore's list).
_V2_SUBRESOURCES = (
    "accelerate acl cors defaultObjectAcl location logging partNumber policy requestPayment "
    "torrent versioning versionId versions website uploads uploadId response-content-type "
    "response-content-language response-expires response-cache-control "
    "response-content-disposition response-content-encoding delete lifecycle tagging restore "
    "storageClass notification replication requestPayment analytics metrics inventory select "
    "select-type object-lock"
).split()


def _check_v2(
    environ: dict[str, Any],
    path: str,
    params: dict[str, str],
    access_key: str,
    signature: str,
    expires: str | None,
) -> tuple[str, bytes] | None:
    """AWS Signature V2 (header `AWS key:sig`, or a presigned URL), which MinIO still accepts."""
    if access_key != ACCESS_KEY:
        return _error(
            "InvalidAccessKeyId",
            "The Access Key Id you provided does not exist in our records.",
            "403 Forbidden",
            environ,
        )
    if expires is not None and expires.isdigit() and int(expires) < time.time():
        return _error("AccessDenied", "Request has expired", "403 Forbidden", environ)
    amz = sorted(
        (k[5:].lower().replace("_", "-"), " ".join(str(v).split()))
        for k, v in environ.items()
        if k.startswith("HTTP_X_AMZ_")
    )
    subresources = sorted((k, v) for k, v in params.items() if k in _V2_SUBRESOURCES)
    resource = path + (
        "?" + "&".join(f"{k}={v}" if v else k for k, v in subresources) if subresources else ""
    )
    date = expires if expires is not None else (_header(environ, "date") or "")
    if expires is None and _header(environ, "x-amz-date"):
        date = ""
    to_sign = "\n".join(
        [
            environ["REQUEST_METHOD"],
            _header(environ, "content-md5") or "",
            _header(environ, "content-type") or "",
            date,
            *(f"{k}:{v}" for k, v in amz),
            resource,
        ]
    )
    expected = base64.b64encode(
        hmac.new(SECRET_KEY.encode(), to_sign.encode(), hashlib.sha1).digest()
    ).decode()
    return _signature_check(expected, signature, environ)


class MinioAuth:
    """WSGI middleware: MinIO's checks, then the wrapped S3 app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        refused = check_auth(environ)
        if refused is None:

            def minio_headers(status: str, headers: list, *args: Any) -> Any:
                # moto says `Server: amazon.com`; the server's own header says MinIO
                kept = [(k, v) for k, v in headers if k.lower() != "server"]
                return start_response(status, kept, *args)

            return self.app(environ, minio_headers)
        status, body = refused
        start_response(
            status,
            [
                ("Content-Type", "application/xml"),
                ("Content-Length", str(len(body))),
                ("Accept-Ranges", "bytes"),
            ],
        )
        return [body]


# ---- supervisor ------------------------------------------------------------------------------
def main() -> None:
    import json

    config = json.loads(Path(sys.argv[1]).read_text())
    become_subreaper()
    # Imported once here, shared by every forked server.
    from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    s3_app = create_backend_app("s3")  # MinIO speaks S3 only: no dispatch on the Host header

    class Handler(MotoRequestHandler):
        def version_string(self) -> str:
            return "MinIO"

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    def serve(sock: Any) -> None:
        address, port = sock.getsockname()[:2]
        app = MinioAuth(s3_app)
        server = make_server(
            address,
            port,
            app,
            threaded=True,
            request_handler=Handler,
            fd=sock.fileno(),
        )
        server.serve_forever()

    sockets = [(a, listen(a, config["port"]), serve) for a in config["addresses"]]
    emit({"pids": serve_children(sockets)})
    supervise()


def _signature_check(expected: str, signature: str, environ: dict) -> Any:
    """None when the signatures match; MinIO's SignatureDoesNotMatch answer when not."""
    if hmac.compare_digest(expected, signature):
        return None
    return _error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        "403 Forbidden",
        environ,
    )
