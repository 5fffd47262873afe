"""Serves the web app (``web/``): the pages for customers, box-office desks and admins.

The app is plain HTML, CSS and JavaScript modules that talk to the public API like any other client;
this router only hands out its files. ``/app/...`` answers every page path with the one HTML shell (the
app routes in the browser), which names its assets under ``/app/assets/<version>/...``: the version is a
digest of the shipped files, so assets are cached for a year and a new release is fetched at once. The
shell itself is never cached. Every answer carries a strict Content-Security-Policy (nothing but this
origin: no CDN, no inline script) and ``Referrer-Policy: no-referrer``, because the live seat map's
EventSource URL carries the access token. None of these routes appear in the OpenAPI description: they
are not part of the API.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path, PurePosixPath

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from api.problems import ApiProblem

WEB_ROOT = Path(__file__).resolve().parent.parent.parent / "web"
SHELL = "index.html"
VERSION_PLACEHOLDER = "__ASSET_VERSION__"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

router = APIRouter(include_in_schema=False)


def _files() -> list[Path]:
    return sorted(p for p in WEB_ROOT.rglob("*") if p.is_file() and p.suffix in CONTENT_TYPES)


@cache
def asset_version() -> str:
    """A digest of every shipped file: changes whenever any asset does."""
    digest = hashlib.sha256()
    for path in _files():
        digest.update(path.relative_to(WEB_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def _shell() -> bytes:
    return (WEB_ROOT / SHELL).read_text(encoding="utf-8").replace(VERSION_PLACEHOLDER, asset_version()).encode()


def _asset(path: str) -> Path:
    """The file under ``web/`` that ``path`` names; 404 for anything else (no way out of the folder)."""
    relative = PurePosixPath(path)
    if relative.is_absolute() or any(part in ("", ".", "..") for part in relative.parts):
        raise ApiProblem(404, "no such file", "unknown-asset")
    candidate = (WEB_ROOT / relative).resolve()
    if not candidate.is_relative_to(WEB_ROOT) or not candidate.is_file() or candidate.suffix not in CONTENT_TYPES:
        raise ApiProblem(404, "no such file", "unknown-asset")
    return candidate


@cache
def _read(file: Path) -> bytes:
    return file.read_bytes()


@router.api_route("/", methods=["GET", "HEAD"])
async def root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=307)


@router.api_route("/app/assets/{version}/{path:path}", methods=["GET", "HEAD"])
async def asset(version: str, path: str) -> Response:
    """A file of the app. The current version is cached for good; any other version (a page loaded
    before an upgrade) gets today's file, revalidated every time."""
    file = _asset(path)
    cache_control = IMMUTABLE if version == asset_version() else REVALIDATE
    return Response(
        _read(file),
        media_type=CONTENT_TYPES[file.suffix],
        headers={**SECURITY_HEADERS, "Cache-Control": cache_control},
    )


@router.api_route("/app", methods=["GET", "HEAD"])
@router.api_route("/app/{page:path}", methods=["GET", "HEAD"])
async def shell(page: str = "") -> Response:
    """The HTML shell for every page of the app; the browser-side router picks the page."""
    if page.startswith("assets/"):  # /app/assets/<file> without a version: not a page
        raise ApiProblem(404, "no such file", "unknown-asset")
    return Response(
        _shell(), media_type=CONTENT_TYPES[".html"], headers={**SECURITY_HEADERS, "Cache-Control": REVALIDATE}
    )
