"""The routes behind the web app, over HTTP (no browser needed): the app's files, the dashboard's report
and the seat blocks. These run everywhere, with or without chromium."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import httpx

from tests.api_client import ShowFixture, admin_headers, create_show, new_user
from tests.conftest import ROOT, Service

WEB = ROOT / "web"


def asset_base(client: httpx.Client) -> str:
    shell = client.get("/app/")
    match = re.search(r"/app/assets/([0-9a-f]+)/css/app\.css", shell.text)
    assert match, shell.text
    return f"/app/assets/{match.group(1)}"


def test_the_app_is_served_with_its_types_caching_and_security_headers(live_service: Service) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        root = client.get("/", follow_redirects=False)
        assert root.status_code == 307
        assert root.headers["location"] == "/app/"
        for page in ("/app", "/app/", "/app/shows/anything", "/app/admin/reports"):
            shell = client.get(page)
            assert shell.status_code == 200, page
            assert shell.headers["content-type"] == "text/html; charset=utf-8"
            assert shell.headers["cache-control"] == "no-cache"
            csp = shell.headers["content-security-policy"]
            assert "default-src 'self'" in csp
            assert "script-src 'self'" in csp
            assert "unsafe-inline" not in csp
            assert shell.headers["referrer-policy"] == "no-referrer"
            assert "__ASSET_VERSION__" not in shell.text
        base = asset_base(client)
        for path, kind in (
            ("js/main.js", "text/javascript"),
            ("css/app.css", "text/css"),
            ("icon.svg", "image/svg+xml"),
        ):
            asset = client.get(f"{base}/{path}")
            assert asset.status_code == 200, path
            assert asset.headers["content-type"].startswith(kind)
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert asset.content == (WEB / path).read_bytes()
        assert client.head(f"{base}/js/main.js").status_code == 200
        # A page loaded before an upgrade asks for an old version: today's file, revalidated.
        old = client.get("/app/assets/0123456789ab/js/main.js")
        assert old.status_code == 200
        assert old.headers["cache-control"] == "no-cache"

        for bad in ("js/../../api/app.py", "..%2f..%2fsettings.py", "js/nope.js", "__init__.py", "%2fetc/passwd"):
            refused = client.get(f"{base}/{bad}")
            assert refused.status_code == 404, bad
            assert refused.headers["content-type"] == "application/problem+json"
        paths = client.get("/openapi.json").json()["paths"]
        assert not [p for p in paths if p == "/" or p.startswith("/app")]


def test_every_module_the_app_imports_exists() -> None:
    """A static check of the import graph: a typo in a path would only show as a blank view otherwise."""
    pattern = re.compile(r"""(?:from\s+|import\s*\(\s*)["'](\.{1,2}/[^"']+)["']""")
    checked = 0
    for module in WEB.rglob("*.js"):
        for target in pattern.findall(module.read_text(encoding="utf-8")):
            assert (module.parent / target).resolve().is_file(), f"{module.relative_to(ROOT)} imports {target}"
            checked += 1
    assert checked > 20


def test_the_package_data_ships_every_file_of_the_app() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["web"]
    assert "web*" in config["tool"]["setuptools"]["packages"]["find"]["include"]
    files = [p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    missing = [
        f for f in files if f != "__init__.py" and not any(fnmatch(f, pat) and _same_depth(f, pat) for pat in patterns)
    ]
    assert not missing, f"not in [tool.setuptools.package-data] web: {missing}"


def _same_depth(file: str, pattern: str) -> bool:
    # setuptools globs do not cross "/" with "*" (unlike fnmatch).
    return len(Path(file).parts) == len(Path(pattern).parts)


def show_admin_and_customer(client: httpx.Client) -> tuple[ShowFixture, dict[str, str], dict[str, str]]:
    """A new show, the admin's headers and a new customer's."""
    show, admin = create_show(client), admin_headers(client)
    _, customer = new_user(client)
    return show, admin, {"Authorization": f"Bearer {customer}"}


def test_the_sales_report_counts_seats_money_and_capacity(live_service: Service) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show, admin, bearer = show_admin_and_customer(client)
        held = client.post(f"/api/v1/shows/{show.show_id}/holds", headers=bearer, json={"seats": ["B1", "B2"]})
        assert held.status_code == 201, held.text
        paid = client.post(
            f"/api/v1/shows/{show.show_id}/holds/pay",
            headers=bearer,
            json={"payment_info": {"card_number": "4242424242424242"}},
        )
        assert paid.status_code == 200, paid.text
        again = client.post(f"/api/v1/shows/{show.show_id}/holds", headers=bearer, json={"seats": ["A1"]})
        assert again.status_code == 201

        assert client.get("/api/v1/admin/reports/sales").status_code == 401
        assert client.get("/api/v1/admin/reports/sales", headers=bearer).status_code == 403
        report = client.get("/api/v1/admin/reports/sales", headers=admin, params={"theater_id": show.theater_id})
        assert report.status_code == 200, report.text
        body = report.json()
        (figures,) = [s for s in body["shows"] if s["show_id"] == show.show_id]
        assert figures["capacity"] == 20
        assert figures["sold"] == 2
        assert figures["held"] == 1
        assert figures["occupancy"] == 0.1
        assert figures["bookings"] == 1
        assert figures["revenue"] == figures["gross"] == paid.json()["amount"] == 800.0
        assert sum(d["sold"] for d in body["show_days"]) == 2
        assert sum(d["revenue"] for d in body["sales_days"]) == 800.0
        (screen,) = body["screens"]
        assert screen["id"] == show.screen_id
        assert screen["capacity"] == 20
        assert [(r["row"], r["seats"], r["category"]) for r in screen["rows"]] == [
            ("A", 10, "standard"),
            ("B", 10, "premium"),
        ]

        booking_id = paid.json()["booking_id"]
        assert client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=bearer).status_code == 200
        after = client.get("/api/v1/admin/reports/sales", headers=admin, params={"theater_id": show.theater_id}).json()
        (figures,) = [s for s in after["shows"] if s["show_id"] == show.show_id]
        assert figures["sold"] == 0
        assert figures["bookings"] == 0
        assert figures["refunded"] > 0
        assert figures["revenue"] == figures["gross"] - figures["refunded"]

        for params in ({"start": "2026-02-01", "end": "2026-01-01"}, {"start": "2020-01-01", "end": "2026-01-01"}):
            refused = client.get("/api/v1/admin/reports/sales", headers=admin, params=params)
            assert refused.status_code == 422
            assert refused.headers["content-type"] == "application/problem+json"
        assert client.get("/api/v1/admin/reports/sales", headers=admin, params={"end": "0001-01-01"}).status_code == 422


def test_admins_block_and_unblock_seats(live_service: Service) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show, admin, bearer = show_admin_and_customer(client)
        url = f"/api/v1/admin/shows/{show.show_id}/seats"

        assert client.post(f"{url}/block", headers=bearer, json={"seats": ["A1"]}).status_code == 403
        blocked = client.post(f"{url}/block", headers=admin, json={"seats": ["A1", "A2"]})
        assert blocked.status_code == 200, blocked.text
        assert blocked.json() == {"show_id": show.show_id, "blocked": ["A1", "A2"]}
        refused = client.post(f"/api/v1/shows/{show.show_id}/holds", headers=bearer, json={"seats": ["A1"]})
        assert refused.status_code == 409

        held = client.post(f"/api/v1/shows/{show.show_id}/holds", headers=bearer, json={"seats": ["B5"]})
        assert held.status_code == 201
        conflict = client.post(f"{url}/block", headers=admin, json={"seats": ["B5", "B6"]})
        assert conflict.status_code == 409
        assert conflict.json()["seats"] == ["B5"]
        assert client.post(f"{url}/block", headers=admin, json={"seats": ["Z99"]}).status_code == 404

        unblocked = client.post(f"{url}/unblock", headers=admin, json={"seats": ["A1"]})
        assert unblocked.status_code == 200
        assert unblocked.json()["blocked"] == ["A2"]
        assert (
            client.post(f"/api/v1/shows/{show.show_id}/holds", headers=bearer, json={"seats": ["A1"]}).status_code
            == 201
        )
