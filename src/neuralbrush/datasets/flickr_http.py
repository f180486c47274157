"""HTTP for the Flickr source: which URLs may be fetched, and fetching them defensively.

Everything here assumes the other side may be hostile (a wrong ``--api-url``, a compromised
mirror, a test server playing one):

* **Which URLs.** Only ``http``/``https`` URLs written in plain printable ASCII, without user
  names or passwords, are ever requested. API calls go to the host of ``--api-url`` only.
  Photos come from Flickr's static photo hosts (``staticflickr.com`` and its subdomains such as
  ``live.staticflickr.com`` or ``farm66.staticflickr.com``, and the older
  ``*.static.flickr.com``) on the default port, or from the API's own host (same host name and
  port as ``--api-url``: that is what lets a local test server serve both). Redirects are
  followed (at most five) only when their target passes the same rule; ``file:``, ``ftp:``,
  ``data:`` and every other scheme have no handler at all.
* **Bounded waiting.** Every request has a socket timeout (connect, headers and each read), and
  a whole transfer must finish within :data:`TRANSFER_TIMEOUT_FACTOR` times that. HTTP 429/5xx,
  timeouts and dropped connections are retried a bounded number of times with a growing pause
  (``Retry-After`` is honoured up to :data:`MAX_PAUSE` seconds); every wait is announced
  through the ``status`` callback so a presenter can show why nothing moves.
* **Bounded bodies.** API answers are read up to a byte cap. A photo is refused on its
  ``Content-Type`` (when it names a non-image type) or ``Content-Length`` before its body is
  read, on its first bytes when they are not a JPEG, PNG or GIF signature, and as soon as it
  grows past its byte cap; it is streamed into a temporary file the caller owns, so a refused
  body never reaches its final name.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Protocol, TypeVar

from ..core.errors import NeuralbrushError, UsageError

USER_AGENT = "neuralbrush-dataset-flickr/0.1 (+https://github.com/neuralbrush)"
STATIC_PHOTO_DOMAINS = ("staticflickr.com", "static.flickr.com")
MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 5
MAX_API_BYTES = 32 << 20
TRANSFER_TIMEOUT_FACTOR = 20  # a whole body must arrive within this many --timeout periods
MAX_PAUSE = 60.0  # longest pause between two tries, whatever Retry-After says
TRANSIENT_HTTP = (429, 500, 502, 503, 504)
CHUNK = 64 << 10
IMAGE_SIGNATURES = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF87a", "gif"), (b"GIF89a", "gif"))
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "gif": ".gif"}
NEUTRAL_CONTENT_TYPES = ("application/octet-stream", "binary/octet-stream")

Status = Callable[[str], None]
T = TypeVar("T")


class FlickrError(NeuralbrushError):
    """Flickr refused a call or could not be reached."""


class RefusedDownload(FlickrError):
    """A URL or a body that must not be fetched or kept; never retried. ``reason`` is a short tag."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


# ----------------------------------------------------------------------------- which URLs

def _url_shape_problem(url: object) -> str | None:
    """Why ``url`` is not a plain http(s) URL we would request, or None."""
    if not isinstance(url, str) or not url:
        return "it is not a URL"
    if len(url) > MAX_URL_LENGTH:
        return f"it is longer than {MAX_URL_LENGTH} characters"
    if any(not (0x21 <= ord(ch) <= 0x7E) for ch in url):
        return "it contains spaces, control or non-ASCII characters"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "it is not a well-formed URL"
    if parts.scheme not in ("http", "https"):
        return f"only http and https URLs are fetched, not {parts.scheme + ':' if parts.scheme else 'a URL without scheme'}"
    if not parts.hostname:
        return "it names no host"
    if parts.username is not None or parts.password is not None:
        return "it carries a user name or password"
    return None


def _host_port(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def check_api_url(url: str) -> None:
    """Raise :class:`UsageError` unless ``url`` is an http(s) URL the client may call."""
    problem = _url_shape_problem(url)
    if problem:
        shown = url if isinstance(url, str) and len(url) <= 80 else (repr(url)[:80] + "…")
        raise UsageError(f"--api-url must be an http(s) URL such as https://api.flickr.com/services/rest/; "
                         f"{shown!r} is refused: {problem}")


def is_static_photo_host(host: str) -> bool:
    host = host.lower()
    return any(host == d or host.endswith("." + d) for d in STATIC_PHOTO_DOMAINS)


@dataclass(frozen=True)
class HostRule:
    """The hosts a request may reach: the API's own host (name and port), plus, for photos,
    Flickr's static photo hosts on their scheme's default port."""

    api_host: str
    api_port: int
    photos: bool

    @classmethod
    def for_api(cls, api_url: str, *, photos: bool) -> "HostRule":
        host, port = _host_port(api_url)
        return cls(host, port, photos)

    def problem(self, url: object) -> str | None:
        """Why ``url`` may not be fetched under this rule, or None."""
        problem = _url_shape_problem(url)
        if problem:
            return problem
        assert isinstance(url, str)
        host, port = _host_port(url)
        if (host, port) == (self.api_host, self.api_port):
            return None
        scheme = urllib.parse.urlsplit(url).scheme
        if self.photos and is_static_photo_host(host) and port == (443 if scheme == "https" else 80):
            return None
        allowed = "Flickr's static photo hosts or " if self.photos else ""
        return f"{host}:{port} is not one of {allowed}the API's host ({self.api_host}:{self.api_port})"


def short_url(url: object, limit: int = 100) -> str:
    text = repr(url) if not isinstance(url, str) else url
    text = "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in text)
    return text if len(text) <= limit else text[:limit] + "…"


# ----------------------------------------------------------------------------- the opener

class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only when its target passes the request's :class:`HostRule`."""

    max_redirections = MAX_REDIRECTS

    def __init__(self, rule: HostRule) -> None:
        self.rule = rule

    def http_error_302(self, req, fp, code, msg, headers):  # noqa: D401 - urllib's hook
        target = headers.get("Location") or headers.get("URI")
        if target is not None:
            try:
                newurl = urllib.parse.urljoin(req.full_url, target)
            except ValueError:
                newurl = target
            problem = self.rule.problem(newurl)
            if problem:
                fp.close()
                raise RefusedDownload("unsafe-redirect", f"redirected to {short_url(newurl)}, which is refused: {problem}")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def make_opener(rule: HostRule) -> urllib.request.OpenerDirector:
    """An opener with handlers for http and https only (no file:, ftp:, data:) and guarded redirects."""
    opener = urllib.request.OpenerDirector()
    proxies = {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}
    for handler in (urllib.request.ProxyHandler(proxies), urllib.request.UnknownHandler(),
                    urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), _GuardedRedirects(rule),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


# ----------------------------------------------------------------------------- requests

class Limiter(Protocol):
    """What :func:`request` needs of ``flickr.RateLimiter``: spacing, and a sleep for pauses."""

    interval: float

    def wait(self) -> None: ...

    def sleep(self, seconds: float) -> None: ...


def _pause(interval: float, attempt: int, retry_after: str | None) -> float:
    pause = max(interval, 1.0) * 2 ** attempt
    if retry_after and retry_after.strip().isdigit():
        pause = max(pause, float(retry_after.strip()[:6]))
    return min(pause, MAX_PAUSE)


def request(url: str, consume: Callable[[http.client.HTTPResponse, float], T], *, rule: HostRule,
            limiter: Limiter, timeout: float, retries: int, what: str, status: Status | None = None) -> T:
    """GET ``url`` (checked against ``rule``) and hand the response to ``consume(response, deadline)``.

    Transient failures are retried ``retries`` times with a growing pause; a
    :class:`RefusedDownload` (a refused URL, redirect or body) is raised at once; anything else
    ends as a :class:`FlickrError` with one sentence.
    """
    problem = rule.problem(url)
    if problem:
        raise RefusedDownload("unsafe-url", f"{what}: the URL {short_url(url)} is refused: {problem}")
    host = "{}:{}".format(*_host_port(url))
    opener = make_opener(rule)
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    tries = retries + 1
    for attempt in range(tries):
        limiter.wait()
        if status:
            status(f"waiting for {host} ({what})" + (f", try {attempt + 1} of {tries}" if attempt else ""))
        retry_after = None
        try:
            with opener.open(req, timeout=timeout) as resp:
                return consume(resp, time.monotonic() + timeout * TRANSFER_TIMEOUT_FACTOR)
        except RefusedDownload:
            raise
        except urllib.error.HTTPError as e:
            retry_after = e.headers.get("Retry-After") if e.headers is not None else None
            e.close()
            failure = f"{host} answered HTTP {e.code}"
            if e.code not in TRANSIENT_HTTP:
                raise FlickrError(f"{failure} for {what}") from None
        except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, resets, short reads, TLS
            reason = getattr(e, "reason", None) or str(e) or type(e).__name__
            failure = f"cannot reach {host} ({reason})"
        if attempt + 1 < tries:
            pause = _pause(limiter.interval, attempt, retry_after)
            if status:
                status(f"{failure}; trying again in {pause:.0f} s ({attempt + 2} of {tries})")
            limiter.sleep(pause)
    raise FlickrError(f"{failure} for {what}" + (f", {tries} tries" if tries > 1 else ""))


def read_capped(max_bytes: int, what: str) -> Callable[[http.client.HTTPResponse, float], bytes]:
    """A ``consume`` for :func:`request` returning the body, refused past ``max_bytes``."""

    def consume(resp: http.client.HTTPResponse, deadline: float) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = resp.read(CHUNK)
            if not chunk:
                return b"".join(parts)
            size += len(chunk)
            if size > max_bytes:
                raise FlickrError(f"the answer to {what} is larger than {max_bytes >> 20} MB")
            if time.monotonic() > deadline:
                raise TimeoutError("the answer arrived too slowly")
            parts.append(chunk)

    return consume


@dataclass(frozen=True)
class SavedBody:
    final_url: str
    bytes: int
    sha256: str
    format: str  # jpeg, png or gif (from the file's signature)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def sniff_image(head: bytes) -> str | None:
    """``jpeg``/``png``/``gif`` from a file's first bytes, or None."""
    for signature, fmt in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return fmt
    return None


def save_image_body(target: Path, max_bytes: int) -> Callable[[http.client.HTTPResponse, float], SavedBody]:
    """A ``consume`` for :func:`request` streaming an image body into ``target`` (the caller's
    temporary file, truncated on every try), refusing non-images and bodies over ``max_bytes``."""

    def consume(resp: http.client.HTTPResponse, deadline: float) -> SavedBody:
        if resp.headers.get("Content-Type"):
            ctype = resp.headers.get_content_type()
            if resp.headers.get_content_maintype() != "image" and ctype not in NEUTRAL_CONTENT_TYPES:
                raise RefusedDownload("not-an-image", f"the server sent {short_url(ctype, 40)}, not an image")
        length = (resp.headers.get("Content-Length") or "").strip()
        if length.isdigit() and int(length) > max_bytes:
            raise RefusedDownload("too-large", f"{int(length)} bytes announced, more than the cap of {max_bytes}")
        head = resp.read(16)
        fmt = sniff_image(head)
        if fmt is None:
            raise RefusedDownload("not-an-image", "the body does not start like a JPEG, PNG or GIF file")
        sha = hashlib.sha256(head)
        size = len(head)
        with open(target, "wb") as f:
            f.write(head)
            _stream(resp, f, sha, size, max_bytes, deadline)
            size = f.tell()
        return SavedBody(resp.geturl(), size, sha.hexdigest(), fmt)

    return consume


def _stream(resp: http.client.HTTPResponse, f: BinaryIO, sha, size: int, max_bytes: int, deadline: float) -> None:
    while True:
        chunk = resp.read(CHUNK)
        if not chunk:
            return
        size += len(chunk)
        if size > max_bytes:
            raise RefusedDownload("too-large", f"the body grew past the cap of {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise TimeoutError("the photo arrived too slowly")
        sha.update(chunk)
        f.write(chunk)
