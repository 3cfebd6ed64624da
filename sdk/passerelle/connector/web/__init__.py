"""The action center as a web page, served by ``passerelle serve`` at ``/`` on the API port.

Sign in with an admin token of ``[[admin.tokens]]``: the page sets a ``Secure``, ``HttpOnly``,
``SameSite=Strict`` session cookie (so serve it over HTTPS, or on localhost). A ``read`` token
sees everything but a delivery's body; retry and dismiss need a ``full`` token. Every form
carries a CSRF token tied to the session, and a post from another origin is refused.

=========================  ==================================================================
``/``                      the failed deliveries, filtered by code, platform, store and age,
                           with how many of each code; retry or dismiss several at once
``/waiting``               the deferred and the pending deliveries: why, and until when
``/deliveries/{id}``       one delivery: headers (secrets masked), attempts, notes, what it
                           became, the back end's answer; retry or dismiss it
``/codes/{code}``          what an error code means and what to do (``passerelle explain``)
``/export.csv``            the failed deliveries of the current filter, as CSV
``/batches``               per store, each batch file's newest version: date, entries, total,
                           cutoff and whether it has passed
``/batches/{p}/{s}/{id}``  one batch: every version and what it changed, its entries with
                           account numbers masked
=========================  ==================================================================
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from passerelle.backend.problems import UnknownProblemCodeError, explain
from passerelle.batches import StoreCutoffs
from passerelle.clock import Clock, SystemClock
from passerelle.connector.actions import ActionCenter, ActionEntry, ActionInputError
from passerelle.connector.api import match_token
from passerelle.connector.config import AdminToken
from passerelle.connector.files import batch_history, batch_standing, masked_account
from passerelle.connector.store import (
    DeliveryNotFoundError,
    DeliveryStateError,
    DeliveryStatus,
    DeliveryStore,
)
from passerelle.connector.web import sessions

__all__ = ["create_action_page"]

log = logging.getLogger("passerelle.actions")

_HERE = Path(__file__).parent
_FULL_ACCESS: Final = "full"
_MAX_FORM_BYTES: Final = 64 * 1024
_MAX_NOTE: Final = 2000
MAX_ROWS: Final = 500
"""The most rows a list shows; the export and the filters reach the rest."""
# Ages offered by the filter, as `since` understands them.
AGES: Final = (
    ("", "any time"),
    ("1h", "last hour"),
    ("24h", "last 24 hours"),
    ("7d", "last 7 days"),
    ("30d", "last 30 days"),
)
_IDS = re.compile(r"^\d{1,18}(,\d{1,18})*$")
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

T = TypeVar("T")


@dataclass(frozen=True)
class _Session:
    """Who is signed in, with the cookie they presented."""

    token: AdminToken
    cookie: str

    @property
    def full(self) -> bool:
        return self.token.access == _FULL_ACCESS


class _Refused(Exception):  # noqa: N818 - it is the answer, not a failure of the code
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(now: datetime, then: datetime | None) -> str:
    """How long ago `then` was, in the largest unit that fits (``3 min``, ``2 h``, ``4 d``)."""
    if then is None:
        return ""
    seconds = int((now - then).total_seconds())
    if seconds == 0:
        return "now"
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            text = f"{seconds // size} {unit}"
            break
    else:
        text = f"{seconds} s"
    return f"in {text}" if future else f"{text} ago"


def _local_path(target: str | None, default: str) -> str:
    """`target` if it is a path of this site, else `default`: a link cannot send elsewhere."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


def create_action_page(
    store: DeliveryStore,
    tokens: Iterable[AdminToken],
    *,
    stores: Iterable[tuple[str, str]] = (),
    clock: Clock | None = None,
    cutoffs: StoreCutoffs | None = None,
) -> ASGIApp:
    """The action-center page over `store`, for the given admin tokens (none: nobody signs in).
    `stores` are the configured ``(platform, store id)`` pairs the filters offer and whose
    batches are listed; `cutoffs` are the stores' batch cutoffs."""
    admin = tuple(tokens)
    configured = tuple(stores)
    policy = cutoffs or StoreCutoffs()
    clock = clock or SystemClock()
    center = ActionCenter(store, clock=clock)
    templates = _environment()

    async def run(work: Callable[[], T]) -> T:
        return await run_in_threadpool(work)

    def signed_in(request: Request) -> _Session | None:
        value = request.cookies.get(sessions.COOKIE)
        if not value:
            return None
        token = sessions.verify(admin, value, clock.now())
        return None if token is None else _Session(token, value)

    def render(
        request: Request,
        template: str,
        context: Mapping[str, Any],
        *,
        status: int = 200,
        session: _Session | None = None,
    ) -> Response:
        root = request.scope.get("root_path", "")
        values: dict[str, Any] = {"root": root, "now": clock.now(), "age": _age, "user": None}
        if session is not None:
            values.update(
                user=session.token,
                full=session.full,
                csrf=sessions.csrf_token(session.token, session.cookie),
                counts=getattr(request.state, "counts", {}),
            )
        values.update(context)
        html = templates.get_template(template).render(values)
        return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)

    def refusal(request: Request, refused: _Refused, session: _Session | None = None) -> Response:
        context = {"title": "Refused", "message": refused.message}
        return render(request, "message.html", context, status=refused.status, session=session)

    async def form(request: Request) -> dict[str, list[str]]:
        if not _same_origin(request):
            raise _Refused(403, "this form was posted from another site")
        body = await request.body()
        if len(body) > _MAX_FORM_BYTES:
            raise _Refused(413, "the form is too large")
        fields: dict[str, list[str]] = {}
        for name, value in parse_qsl(body.decode("utf-8", errors="replace")):
            fields.setdefault(name, []).append(value)
        return fields

    def page(
        handler: Callable[[Request, _Session], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """A page that needs a signed-in user: others go to the sign-in form."""

        async def endpoint(request: Request) -> Response:
            session = signed_in(request)
            if session is None:
                if request.method != "GET":
                    return render(
                        request,
                        "message.html",
                        {
                            "title": "Signed out",
                            "message": ("Your session has ended: sign in again."),
                        },
                        status=401,
                    )
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                query = urlencode({"next": target})
                root = request.scope.get("root_path", "")
                return RedirectResponse(f"{root}/login?{query}", status_code=303)
            try:
                # The navigation shows how many deliveries are in each status.
                request.state.counts = await run(center.stats)
                return await handler(request, session)
            except _Refused as refused:
                return refusal(request, refused, session)

        return endpoint

    # -- signing in ------------------------------------------------------------------------

    async def login_form(request: Request) -> Response:
        target = _local_path(request.query_params.get("next"), "/")
        return render(request, "login.html", {"next": target, "error": None})

    async def login(request: Request) -> Response:
        try:
            fields = await form(request)
        except _Refused as refused:
            return refusal(request, refused)
        target = _local_path(_one(fields, "next"), "/")
        token = match_token(admin, _one(fields, "token").strip())
        if token is None:
            log.warning("action-center page: a sign-in with an unknown token was refused")
            return render(
                request,
                "login.html",
                {"next": target, "error": "This token is not valid."},
                status=401,
            )
        root = request.scope.get("root_path", "")
        response = RedirectResponse(root + target, status_code=303)
        response.set_cookie(
            sessions.COOKIE,
            sessions.issue(token, clock.now()),
            max_age=int(sessions.SESSION_TTL.total_seconds()),
            path=root or "/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
        log.info("action-center page: token %s signed in", token.name)
        return response

    async def logout(request: Request, session: _Session) -> Response:
        _check_csrf(await form(request), session)
        root = request.scope.get("root_path", "")
        response = RedirectResponse(f"{root}/login", status_code=303)
        response.delete_cookie(
            sessions.COOKIE, path=root or "/", secure=True, httponly=True, samesite="strict"
        )
        return response

    # -- pages -----------------------------------------------------------------------------

    def filters(request: Request) -> dict[str, str]:
        query = request.query_params
        chosen = {
            name: query.get(name, "").strip() for name in ("code", "platform", "store", "since")
        }
        chosen["all"] = "true" if query.get("all") == "true" else ""
        return chosen

    def failures(chosen: Mapping[str, str]) -> list[ActionEntry]:
        """The failures of every code that the other filters let through."""
        try:
            return center.failures(
                platform=chosen["platform"] or None,
                store=chosen["store"] or None,
                since=chosen["since"] or None,
                include_dismissed=bool(chosen["all"]),
            )
        except ActionInputError as exc:
            raise _Refused(422, f"{exc.field}: {exc.message}") from None

    async def failed(request: Request, session: _Session) -> Response:
        chosen = filters(request)

        def load() -> tuple[list[ActionEntry], Counter[str]]:
            # Every code of the other filters is counted, so that another code is one click away.
            around = failures(chosen)
            per_code = Counter(entry.error_code or "unknown" for entry in around)
            shown = [e for e in around if not chosen["code"] or e.error_code == chosen["code"]]
            return shown, per_code

        entries, per_code = await run(load)
        return render(
            request,
            "failed.html",
            {
                "entries": entries[:MAX_ROWS],
                "total": len(entries),
                "per_code": sorted(per_code.items(), key=lambda item: (-item[1], item[0])),
                "chosen": chosen,
                "ages": AGES,
                "platforms": sorted({p for p, _ in configured} | {e.platform for e in entries}),
                "stores": sorted({s for _, s in configured} | {e.store for e in entries}),
                "query": urlencode({k: v for k, v in chosen.items() if v}),
                "notice": _notice(request),
                "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            },
            session=session,
        )

    async def waiting(request: Request, session: _Session) -> Response:
        deferred, pending = await run(
            lambda: (
                center.waiting_deliveries(deferred=True),
                center.waiting_deliveries(deferred=False),
            )
        )
        return render(
            request,
            "waiting.html",
            {
                "deferred": deferred[:MAX_ROWS],
                "pending": pending[:MAX_ROWS],
                "totals": {"deferred": len(deferred), "pending": len(pending)},
            },
            session=session,
        )

    async def delivery(request: Request, session: _Session) -> Response:
        delivery_id: int = request.path_params["id"]
        try:
            detail = await run(lambda: center.show(delivery_id))
        except DeliveryNotFoundError:
            raise _Refused(404, f"There is no delivery {delivery_id}.") from None
        return render(
            request,
            "delivery.html",
            {
                "d": detail,
                "became": _became(detail.entry.status, detail.outcome),
                "notice": _notice(request),
                "here": request.url.path,
            },
            session=session,
        )

    async def batches(request: Request, session: _Session) -> Response:
        rows = await run(
            lambda: [
                (pair, [batch_standing(v, policy) for v in store.latest_batch_versions(*pair)])
                for pair in sorted(set(configured))
            ]
        )
        return render(
            request,
            "batches.html",
            {"stores": [(pair, standings) for pair, standings in rows if standings]},
            session=session,
        )

    async def batch(request: Request, session: _Session) -> Response:
        platform, store_id = request.path_params["platform"], request.path_params["store"]
        batch_id: str = request.path_params["batch"]
        versions = await run(lambda: store.batch_versions(platform, store_id, batch_id))
        if not versions:
            raise _Refused(404, f"Store {platform}/{store_id} has no batch {batch_id}.")
        return render(
            request,
            "batch.html",
            {
                "standing": batch_standing(versions[-1], policy),
                "history": list(reversed(batch_history(versions))),
                "masked": masked_account,
            },
            session=session,
        )

    async def code(request: Request, session: _Session) -> Response:
        name: str = request.path_params["code"]
        try:
            text: str | None = explain(name)
        except UnknownProblemCodeError:
            text = None
        return render(request, "code.html", {"code": name, "text": text}, session=session)

    async def export(request: Request, session: _Session) -> Response:
        chosen = filters(request)
        out = io.StringIO(newline="")
        try:
            await run(
                lambda: center.export_csv(
                    out,
                    platform=chosen["platform"] or None,
                    store=chosen["store"] or None,
                    code=chosen["code"] or None,
                    since=chosen["since"] or None,
                    include_dismissed=bool(chosen["all"]),
                )
            )
        except ActionInputError as exc:
            raise _Refused(422, f"{exc.field}: {exc.message}") from None
        stamp = clock.now().astimezone(UTC).strftime("%Y%m%d-%H%M%S")
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="passerelle-failed-{stamp}.csv"',
                "Cache-Control": "no-store",
            },
        )

    # -- actions ---------------------------------------------------------------------------

    async def retry(request: Request, session: _Session) -> Response:
        return await act(request, session, "retry")

    async def dismiss(request: Request, session: _Session) -> Response:
        return await act(request, session, "dismiss")

    async def act(request: Request, session: _Session, action: str) -> Response:
        fields = await form(request)
        _check_csrf(fields, session)
        token = session.token
        if not session.full:
            raise _Refused(403, "This token may only read: retry and dismiss need full access.")
        target = _local_path(_one(fields, "next"), "/")
        note = _one(fields, "note").strip()
        if not note:
            raise _Refused(422, f"A note is required to {action}: say why.")
        if len(note) > _MAX_NOTE:
            raise _Refused(422, f"The note is longer than {_MAX_NOTE} characters.")
        try:
            ids = [int(value) for value in fields.get("id", [])]
        except ValueError:
            raise _Refused(422, "Delivery ids are numbers.") from None
        if not ids:
            raise _Refused(422, f"Choose at least one delivery to {action}.")
        work = center.retry if action == "retry" else center.dismiss
        try:
            done = await run(lambda: work(ids, note))
        except DeliveryNotFoundError as exc:
            raise _Refused(404, str(exc)) from None
        except (DeliveryStateError, ActionInputError) as exc:
            raise _Refused(409, f"Nothing was changed: {exc}") from None
        log.info("deliveries %s: %s with token %s (page)", done, action, token.name)
        verb = "retried" if action == "retry" else "dismissed"
        separator = "&" if "?" in target else "?"
        ids_text = ",".join(map(str, done))
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}{target}{separator}{verb}={ids_text}", status_code=303)

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code if exc.status_code in (404, 405) else 404
        message = "There is no such page." if status == 404 else "This page does not take that."
        return render(
            request, "message.html", {"title": "Not found", "message": message}, status=status
        )

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", page(logout), methods=["POST"]),
        Route("/", page(failed), methods=["GET"]),
        Route("/waiting", page(waiting), methods=["GET"]),
        Route("/deliveries/{id:int}", page(delivery), methods=["GET"]),
        Route("/batches", page(batches), methods=["GET"]),
        Route("/batches/{platform}/{store}/{batch}", page(batch), methods=["GET"]),
        Route("/codes/{code}", page(code), methods=["GET"]),
        Route("/export.csv", page(export), methods=["GET"]),
        Route("/retry", page(retry), methods=["POST"]),
        Route("/dismiss", page(dismiss), methods=["POST"]),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found})


def _one(fields: Mapping[str, list[str]], name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


def _check_csrf(fields: Mapping[str, list[str]], session: _Session) -> None:
    if not sessions.csrf_valid(session.token, session.cookie, _one(fields, "csrf")):
        log.warning("action-center page: a form without a valid CSRF token was refused")
        raise _Refused(403, "This form is out of date or was not sent from this page: reload it.")


def _same_origin(request: Request) -> bool:
    """A browser names the site a form was posted from: it must be this one. (A client that
    names none is not a browser, which would; it still needs the CSRF token.)"""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin.partition("://")[2] == request.headers.get("host", "")


def _notice(request: Request) -> str | None:
    for verb in ("retried", "dismissed"):
        ids = request.query_params.get(verb, "")
        if _IDS.match(ids):
            shown = ", ".join(f"#{i}" for i in ids.split(","))
            return f"{verb.capitalize()}: {shown}."
    return None


def _became(status: DeliveryStatus, outcome: str | None) -> list[str]:
    """What a settled delivery became: the events applied, or why it was ignored."""
    if outcome is None:
        return []
    if status is DeliveryStatus.IGNORED:
        return [outcome]
    try:
        applied = json.loads(outcome)
    except ValueError:
        return [outcome]
    return [str(line) for line in applied] if isinstance(applied, list) else [outcome]
