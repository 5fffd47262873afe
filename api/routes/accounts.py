"""Registration and OAuth2 password-flow tokens (``/api/v1/auth``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from pydantic import EmailStr, Field
from sqlalchemy.exc import IntegrityError

from api.auth import (
    DUMMY_HASH,
    AdminCaller,
    CurrentCaller,
    hash_password_off_loop,
    unauthorized,
    verify_password_off_loop,
)
from api.deps import Db, Tokens
from api.problems import ApiProblem, problem_responses
from api.rate_limit import RateLimiter
from api.schemas import AccountOut, EntityId, LoginForm, Name, RegisterIn, Strict, TokenOut
from persistence import catalog

router = APIRouter(prefix="/api/v1/auth", tags=["accounts"], responses=problem_responses(401, 409))


@router.post("/register", status_code=201, response_model=AccountOut)
async def register(body: RegisterIn, db: Db) -> AccountOut:
    """Create a customer account. 409 if the e-mail is taken (case-insensitively)."""
    password_hash = await hash_password_off_loop(body.password)
    try:
        async with db.session() as session:
            if await catalog.find_account_by_email(session, body.email) is not None:
                raise ApiProblem(409, "an account with this e-mail exists", "email-taken")
            account = await catalog.create_account(session, body.email, password_hash, body.name)
    except IntegrityError as exc:
        raise ApiProblem(409, "an account with this e-mail exists", "email-taken") from exc
    return AccountOut.model_validate(account, from_attributes=True)


@router.post("/token", response_model=TokenOut)
async def token(form: Annotated[LoginForm, Form()], request: Request, db: Db, tokens: Tokens) -> TokenOut:
    """OAuth2 password flow: form fields `username` (the e-mail) and `password`.

    Attempts are limited per account and per address, far below the general limit (429 with
    `Retry-After`, and the `RateLimit-*` fields report the login quota); a correct password clears the
    account's count."""
    limiter: RateLimiter = request.app.state.limiter
    await limiter.check_login(request, form.username)
    async with db.session() as session:
        account = await catalog.find_account_by_email(session, form.username)
    if account is None:
        await verify_password_off_loop(form.password, DUMMY_HASH)
        raise unauthorized("wrong e-mail or password")
    if not await verify_password_off_loop(form.password, account.password_hash):
        raise unauthorized("wrong e-mail or password")
    await limiter.login_succeeded(form.username)
    return TokenOut(access_token=tokens.issue(account.id, account.role), expires_in=tokens.ttl_seconds)


@router.get("/me", response_model=AccountOut)
async def me(caller: CurrentCaller, db: Db) -> AccountOut:
    async with db.session() as session:
        account = await catalog.get_account(session, caller.user_id)
    if account is None:
        raise unauthorized("the account behind this token no longer exists")
    return AccountOut.model_validate(account, from_attributes=True)


class StaffIn(Strict):
    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=8, max_length=128)
    name: Name | None = None
    role: Literal["customer", "box_office", "gate", "admin"]


class RoleIn(Strict):
    role: Literal["customer", "box_office", "gate", "admin"]


admin = APIRouter(prefix="/api/v1/admin/users", tags=["admin"], responses=problem_responses(401, 403, 404, 409))


@admin.post("", status_code=201, response_model=AccountOut)
async def create_account(body: StaffIn, _: AdminCaller, db: Db) -> AccountOut:
    """Create an account with a role (box-office desks, other admins). 409 if the e-mail exists."""
    password_hash = await hash_password_off_loop(body.password)
    try:
        async with db.session() as session:
            if await catalog.find_account_by_email(session, body.email) is not None:
                raise ApiProblem(409, "an account with this e-mail exists", "email-taken")
            account = await catalog.create_account(session, body.email, password_hash, body.name, body.role)
    except IntegrityError as exc:
        raise ApiProblem(409, "an account with this e-mail exists", "email-taken") from exc
    return AccountOut.model_validate(account, from_attributes=True)


@admin.put("/{user_id}/role", response_model=AccountOut)
async def set_role(user_id: EntityId, body: RoleIn, _: AdminCaller, db: Db) -> AccountOut:
    """Change an account's role; it applies to tokens issued from now on."""
    async with db.session() as session:
        account = await catalog.set_role(session, user_id, body.role)
    if account is None:
        raise ApiProblem(404, f"account {user_id} does not exist", "unknown-account")
    return AccountOut.model_validate(account, from_attributes=True)
