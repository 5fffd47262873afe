"""FastAPI dependency aliases for the objects ``main.py`` wires into ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth import TokenService
from api.booking import BookingService
from persistence.catalog import Database
from settings import Settings


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _booking(request: Request) -> BookingService:
    service: BookingService = request.app.state.booking
    return service


def _tokens(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Db = Annotated[Database, Depends(_db)]
Booking = Annotated[BookingService, Depends(_booking)]
Tokens = Annotated[TokenService, Depends(_tokens)]
AppSettings = Annotated[Settings, Depends(_settings)]
