"""Assembles a connector from its settings: store, plugins, back-end client, receiver, dispatcher.

`passerelle serve` runs `Connector.asgi()` under uvicorn. Roles split the work for scale-out on
PostgreSQL: ``receiver`` only takes webhooks (and serves the action center's API and page, and
the metrics), ``dispatcher`` only dispatches (its app answers the health checks and the metrics
alone), ``all`` does both: in worker threads of the same process, or (`passerelle serve` on
PostgreSQL) in a supervised process of its own (`DispatcherProcess`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from passerelle.backend.client import BackendClient
from passerelle.backend.pools import ShardedTransport
from passerelle.backend.retry import RetryPolicy
from passerelle.clock import Clock, SystemClock
from passerelle.connector import metrics
from passerelle.connector.alerts import Alerter
from passerelle.connector.api import bearer_protected, create_api
from passerelle.connector.batch_office import BatchOffice
from passerelle.connector.config import ConfigError, Settings
from passerelle.connector.config_checks import store_problems
from passerelle.connector.dispatch_policy import DispatchPolicy
from passerelle.connector.dispatcher import Dispatcher
from passerelle.connector.dispatcher_process import DispatcherProcess
from passerelle.connector.file_upload import create_file_upload
from passerelle.connector.folders import FolderWatcher
from passerelle.connector.receiver import (
    HEALTH_PATHS,
    answer_health,
    create_receiver,
    store_answers,
    text_answer,
)
from passerelle.connector.store import DeliveryStore, open_store
from passerelle.connector.web import create_action_page
from passerelle.platforms import FilePlatform, WebhookPlatform
from passerelle.plugins import Plugins, default_plugins

__all__ = ["Connector", "Role", "backend_client", "build_connector"]

log = logging.getLogger("passerelle.connector")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Role(StrEnum):
    ALL = "all"
    RECEIVER = "receiver"
    DISPATCHER = "dispatcher"


@dataclass
class Connector:
    """A running connector's parts; close it to release them."""

    settings: Settings
    role: Role
    store: DeliveryStore
    plugins: Plugins
    client: BackendClient
    dispatcher: Dispatcher | None
    backend_http: httpx.Client | None = field(default=None, repr=False)
    """The back-end client's connection pool, timed for the metrics; closed with the rest."""
    alerter: Alerter | None = None
    folders: FolderWatcher | None = None
    """The stores' watched folders (option ``folder`` of a file platform's store)."""
    clock: Clock = field(default_factory=SystemClock)
    """What the cutoff of the back office's batch changes is read on."""
    dispatcher_process: DispatcherProcess | None = None
    """The dispatcher when it runs in a process of its own (role ``all`` under `serve`)."""
    _closed: bool = field(default=False, repr=False)

    def start(self) -> None:
        """Start the dispatcher (its workers, or its process) and the alerts (for the roles
        that dispatch) and the folder watch (for the roles that receive)."""
        if self.dispatcher is not None:
            self.dispatcher.start()
        if self.dispatcher_process is not None:
            self.dispatcher_process.start()
        if self.alerter is not None:
            self.alerter.start()
        if self.folders is not None:
            self.folders.start()

    def close(self) -> None:
        """Let in-flight deliveries finish, then release the store and the client."""
        if self._closed:
            return
        self._closed = True
        if self.alerter is not None:
            self.alerter.stop()
        if self.folders is not None:
            self.folders.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.dispatcher_process is not None:
            self.dispatcher_process.stop()
        self.client.close()
        if self.backend_http is not None:
            self.backend_http.close()
        self.store.close()

    def asgi(self) -> ASGIApp:
        """The HTTP app: webhooks at ``/webhooks/...``, batch files at ``/files/...``, health at ``/healthz`` and ``/readyz``,
        the action-center API under ``/api/``, its page at ``/``, the metrics at ``/metrics``.
        Its lifespan starts and stops the dispatcher.

        For the dispatcher role, only the health checks (see `readiness`) and the metrics."""
        if self.role is Role.DISPATCHER:
            return self._health_app()
        platforms = _webhook_platforms(self.plugins)
        receiver = create_receiver(
            platforms,
            self.settings.stores_by_key(),
            self.store,
            max_body_bytes=self.settings.receiver.max_body_bytes,
            on_append=self.wake_dispatcher(),
            ready=self.readiness,
        )
        file_platforms = _file_platforms(self.plugins)
        office = BatchOffice(
            self.store,
            [key for key in self.settings.stores_by_key() if key[0] in file_platforms],
            self.client,
            self.settings.cutoffs(),
            self.clock,
        )
        api = create_api(self.store, self.settings.admin, batches=office)
        files = create_file_upload(
            self.store,
            file_platforms,
            self.settings.stores_by_key(),
            self.settings.admin.tokens,
            on_append=self.wake_dispatcher(),
        )
        page = create_action_page(
            self.store,
            self.settings.admin.tokens,
            stores=self.settings.stores_by_key(),
            cutoffs=self.settings.cutoffs(),
        )
        metrics_app = self._metrics_app()
        connector = self

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            kind = scope["type"]
            if kind == "lifespan":
                await _lifespan(connector, receive, send)
                return
            path = scope["path"] if kind == "http" else ""
            # Plain prefix checks keep the webhook path free of a router's overhead.
            if kind != "http" or path.startswith("/webhooks/") or path in HEALTH_PATHS:
                await receiver(scope, receive, send)
            elif path == "/api" or path.startswith("/api/"):
                await api(
                    {
                        **scope,
                        "root_path": scope.get("root_path", "") + "/api",
                        "path": path[4:] or "/",
                    },
                    receive,
                    send,
                )
            elif path.startswith("/files/"):
                await files(scope, receive, send)
            elif path == "/metrics":
                await metrics_app(scope, receive, send)
            else:
                await page(scope, receive, send)

        return app

    def wake_dispatcher(self) -> Callable[[], None] | None:
        """What wakes this process's dispatcher, wherever it runs, after an append; None
        without one."""
        if self.dispatcher is not None:
            return self.dispatcher.wake
        if self.dispatcher_process is not None:
            return self.dispatcher_process.wake
        return None

    async def readiness(self) -> tuple[bool, str]:
        """Whether this process may be counted on, and why not: the store must answer and, in
        the roles that dispatch, every dispatcher worker run."""
        ready, why = await store_answers(self.store)
        if not ready:
            return ready, why
        if self.dispatcher is not None:
            running, wanted = self.dispatcher.workers_running(), self.dispatcher.policy.workers
            if running < wanted:
                return False, f"{running} of {wanted} dispatcher workers are running"
        if self.dispatcher_process is not None and not self.dispatcher_process.running():
            return False, "the dispatcher process is not running (it is being restarted)"
        return True, "ready"

    def _metrics_app(self) -> ASGIApp:
        collector = metrics.StoreCollector(self.store)
        return bearer_protected(metrics.metrics_app(collector), self.settings.admin.tokens)

    def _health_app(self) -> ASGIApp:
        connector = self
        metrics_app = self._metrics_app()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await _lifespan(connector, receive, send)
                return
            if scope["type"] != "http":
                return
            path = scope["path"]
            if path in HEALTH_PATHS:
                await answer_health(send, path, scope["method"], connector.readiness)
            elif path == "/metrics":
                await metrics_app(scope, receive, send)
            else:
                await text_answer(
                    send, 404, "not found: a dispatcher answers /healthz, /readyz and /metrics"
                )

        return app


async def _lifespan(connector: Connector, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                connector.start()
            except Exception as exc:
                log.exception("the connector could not start")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            connector.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def build_connector(
    settings: Settings,
    *,
    role: Role = Role.ALL,
    plugins: Plugins | None = None,
    clock: Clock | None = None,
    store: DeliveryStore | None = None,
    dispatcher_command: Sequence[str] | None = None,
) -> Connector:
    """Open the store (unless it is given, opened on `clock`), load the plugins, build the
    dispatcher with the back-end client.

    With `dispatcher_command` (role ``all`` only), the dispatcher is that command, run and
    supervised as a process of its own, instead of worker threads in this one.

    Raises `ConfigError` when the environment cannot serve the metrics."""
    clock = clock or SystemClock()
    plugins = plugins or default_plugins()
    # `passerelle config check` fails on these; a connector already deployed keeps serving the
    # deliveries its stores can handle, and says what the others will lack.
    for problem in store_problems(settings, plugins.platforms()):
        log.warning("configuration: %s", problem)
    if problems := metrics.environment_problems():
        raise ConfigError(problems)
    if store is None:
        store = open_store(settings.store.url, clock=clock)
    d = settings.dispatcher
    policy = DispatchPolicy(
        workers=d.workers,
        concurrency=d.in_flight,
        lease=timedelta(seconds=d.lease),
        max_attempts=d.max_attempts,
        backoff=RetryPolicy(initial_delay=d.backoff_base, max_delay=d.backoff_cap),
        cutoffs=settings.cutoffs(),
    )
    # A connection for each delivery in hand: each thread keeps to its pool, and fewer would
    # queue some calls while other pools idle.
    pools = ShardedTransport(policy.in_hand)
    backend_http = httpx.Client(transport=metrics.MeteredTransport(pools))
    client = backend_client(settings, backend_http)
    dispatcher = None
    process = None
    if dispatcher_command is not None:
        if role is not Role.ALL:
            raise ValueError(f"a dispatcher process is for role all, not {role.value}")
        process = DispatcherProcess(dispatcher_command)
    elif role is not Role.RECEIVER:
        dispatcher = Dispatcher(
            store=store,
            platforms=plugins.platforms(),
            stores=settings.stores_by_key(),
            plugins=plugins,
            backend=client,
            policy=policy,
            clock=clock,
        )
    folders = _watched_folders(settings, plugins)
    watcher = None
    if folders and role is not Role.DISPATCHER:
        wake = dispatcher.wake if dispatcher is not None else None
        watcher = FolderWatcher(
            store,
            folders,
            settle=settings.batches.settle,
            clock=clock,
            on_append=process.wake if process is not None else wake,
        )
    return Connector(
        settings=settings,
        role=role,
        store=store,
        plugins=plugins,
        client=client,
        dispatcher=dispatcher,
        backend_http=backend_http,
        alerter=_alerter(settings, store, clock) if dispatcher is not None else None,
        folders=watcher,
        clock=clock,
        dispatcher_process=process,
    )


def _alerter(settings: Settings, store: DeliveryStore, clock: Clock) -> Alerter | None:
    alerts = settings.alerts
    if not alerts.enabled:
        return None
    receiver = settings.receiver
    page_url = alerts.page_url or f"http://{receiver.host}:{receiver.port}/"
    return Alerter(store, alerts, page_url=page_url, clock=clock)


def backend_client(settings: Settings, http_client: httpx.Client | None = None) -> BackendClient:
    """The payment back end's client as `[backend]` configures it."""
    backend = settings.backend
    return BackendClient(
        backend.url,
        backend.token.get_secret_value(),
        backend.merchant,
        timeout=backend.timeout,
        connect_timeout=backend.connect_timeout,
        total_timeout=backend.total_timeout,
        http_client=http_client,
    )


def _watched_folders(settings: Settings, plugins: Plugins) -> dict[tuple[str, str], Path]:
    files = _file_platforms(plugins)
    folders: dict[tuple[str, str], Path] = {}
    for key, store in settings.stores_by_key().items():
        folder = store.options.get("folder")
        if key[0] in files and folder:
            folders[key] = Path(folder)
    return folders


def _webhook_platforms(plugins: Plugins) -> dict[str, WebhookPlatform]:
    return {
        name: platform
        for name, platform in plugins.platforms().items()
        if isinstance(platform, WebhookPlatform)
    }


def _file_platforms(plugins: Plugins) -> dict[str, FilePlatform]:
    return {
        name: platform
        for name, platform in plugins.platforms().items()
        if isinstance(platform, FilePlatform)
    }
