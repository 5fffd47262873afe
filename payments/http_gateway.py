"""``HttpGateway``: the ``PaymentGateway`` the service uses, speaking HTTP to a gateway service.

It owns the rules for calling out (design rule 6): every request has explicit timeouts; transport
errors, timeouts and 5xx answers are retried a bounded number of times with exponential backoff and
jitter (tenacity); every money-moving request carries the caller's idempotency key, so a retry of a
charge whose answer was lost returns that same charge instead of charging again. When the last attempt
still gets no answer it raises ``GatewayUnavailable``: the outcome is then unknown, and ``lookup`` with the
same key settles it later. A 4xx is a definite answer (nothing moved) and is never retried: it raises
``GatewayRejected``, except a 404 from ``lookup``, which means "never charged".

The wire format is that of ``payments.simulator``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from payments.gateway import ChargeRecord, ChargeResult, GatewayRejected, GatewayUnavailable

log = logging.getLogger("payments.http_gateway")


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.is_server_error
    return isinstance(exc, httpx.TransportError)  # connection errors and every timeout


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


def _charge_result(body: dict[str, Any]) -> ChargeResult:
    return ChargeResult(
        approved=body["status"] == "captured",
        charge_id=body["charge_id"],
        detail=body["detail"],
        amount=Decimal(body["amount"]),
        refunded=Decimal(body["refunded"]),
    )


class HttpGateway:
    """A ``PaymentGateway`` over HTTP. ``attempts`` bounds the tries per call (1 = no retry)."""

    def __init__(
        self,
        base_url: str,
        timeout_seconds: float = 5.0,
        attempts: int = 3,
        *,
        backoff_initial_seconds: float = 0.2,
        backoff_max_seconds: float = 2.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout_seconds))
        self._attempts = attempts
        self._retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            # initial · 2ⁿ plus up to one initial's worth of jitter, so callers failing together spread out.
            wait=wait_exponential_jitter(
                multiplier=backoff_initial_seconds, jitter=backoff_initial_seconds, max=backoff_max_seconds
            ),
            retry=retry_if_exception(_is_transient),
            before_sleep=before_sleep_log(log, logging.INFO),
            reraise=True,
        )

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call with bounded retries. Returns the first answer below 500; raises ``GatewayUnavailable``
        when every attempt failed or timed out."""
        try:
            # A copy per call: a tenacity controller keeps the state of one retry loop.
            async for attempt in self._retrying.copy():
                with attempt:
                    response = await self._client.request(method, path, **kwargs)
                    if response.is_server_error:
                        response.raise_for_status()
                    return response
        except httpx.HTTPStatusError as exc:
            detail = f"{exc.response.status_code} {_detail(exc.response)}"
            raise GatewayUnavailable(f"{method} {path}: {detail} after {self._attempts} attempt(s)") from exc
        except httpx.TransportError as exc:
            detail = f"{type(exc).__name__} {exc}".strip()
            raise GatewayUnavailable(f"{method} {path}: {detail} after {self._attempts} attempt(s)") from exc
        raise AssertionError("unreachable: tenacity either returns, retries or re-raises")

    def _json(self, response: httpx.Response) -> Any:
        if response.is_client_error:
            raise GatewayRejected(response.status_code, _detail(response))
        return response.json()

    async def charge(self, idempotency_key: str, amount: Decimal, card_number: str) -> ChargeResult:
        response = await self._send(
            "POST",
            "/v1/charges",
            json={"idempotency_key": idempotency_key, "amount": str(amount), "card_number": card_number},
        )
        return _charge_result(self._json(response))

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        response = await self._send("GET", f"/v1/charges/{quote(idempotency_key, safe='')}")
        if response.status_code == 404:
            return None
        return _charge_result(self._json(response))

    async def refund(self, charge_id: str, amount: Decimal, idempotency_key: str) -> None:
        response = await self._send(
            "POST",
            f"/v1/charges/{quote(charge_id, safe='')}/refunds",
            json={"idempotency_key": idempotency_key, "amount": str(amount)},
        )
        self._json(response)

    async def captured_charges(self, since: datetime | None = None) -> list[ChargeRecord]:
        params = {"status": "captured"} | ({"since": since.isoformat()} if since is not None else {})
        response = await self._send("GET", "/v1/charges", params=params)
        return [
            ChargeRecord(
                idempotency_key=c["idempotency_key"],
                charge_id=c["charge_id"],
                amount=Decimal(c["amount"]),
                refunded=Decimal(c["refunded"]),
                created_at=datetime.fromisoformat(c["created_at"]),
            )
            for c in self._json(response)
        ]

    async def aclose(self) -> None:
        await self._client.aclose()
