"""The console a person reads: ``configure_logging`` keeps libraries' routine INFO lines out, the service's in."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from api.observability import CHATTY_LIBRARIES, configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    library_levels = {name: logging.getLogger(name).level for name in CHATTY_LIBRARIES}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, library_level in library_levels.items():
        logging.getLogger(name).setLevel(library_level)


def _gateway_call() -> None:
    """One request through httpx, which logs it at INFO ("HTTP Request: ..."), as the reconciler's do."""
    with httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200))) as client:
        client.get("http://gateway.invalid/v1/payments")


def test_info_console_has_the_service_not_the_http_client(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text", "INFO")
    _gateway_call()
    logging.getLogger("booking.reconciler").info("payment gateway reachable again")
    logging.getLogger("httpx").warning("a library's warning still shows")

    console = capsys.readouterr().err
    assert "payment gateway reachable again" in console
    assert "a library's warning still shows" in console
    assert "HTTP Request" not in console


def test_debug_console_has_the_http_client_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text", "DEBUG")
    _gateway_call()

    assert "httpx: HTTP Request: GET http://gateway.invalid/v1/payments" in capsys.readouterr().err
