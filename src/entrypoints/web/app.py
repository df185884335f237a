"""The Litestar application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler

from entrypoints.bootstrap import (
    Services,
    adopts_stored_billing,
    bootstrap,
    offers_billing_stub,
    offers_mailbox,
)
from entrypoints.dispatcher import run_dispatcher
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings, load_settings
from entrypoints.web.account_pages import ACCOUNT_PAGES
from entrypoints.web.admin_pages import ADMIN_PAGES
from entrypoints.web.api import CONTROLLERS
from entrypoints.web.api.billing import plans, webhook
from entrypoints.web.auth import before_request, provide_auth, provide_ctx, provide_tx
from entrypoints.web.billing_pages import (
    BILLING_PAGES,
    STUB_PAGES,
    adopt_stored_subscriptions,
)
from entrypoints.web.body import BufferedBodyMiddleware
from entrypoints.web.deps import provide_request_tx, provide_services, provide_uow
from entrypoints.web.devmail import dev_mailbox
from entrypoints.web.health import healthz, readyz
from entrypoints.web.home_pages import HOME_PAGES
from entrypoints.web.invite_pages import (
    accept_submit,
    decline_submit,
    invite_page,
    sign_in_for_invite,
)
from entrypoints.web.pagekit import PAGE_ERRORS
from entrypoints.web.pages import confirm_page, confirm_submit
from entrypoints.web.problems import EXCEPTION_HANDLERS
from entrypoints.web.ratelimits import GeneralRateLimitMiddleware
from entrypoints.web.requestid import RequestContextMiddleware, stamp_response
from entrypoints.web.workspace_pages import WORKSPACE_PAGES
from saascore import __version__

MAX_BODY_BYTES = 1024 * 1024
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def create_app(
    config: Settings | Services | None = None,
    *,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
    dispatch_outbox: bool = True,
) -> Litestar:
    """Build the web app.

    Given ``Settings`` (default: loaded from the environment), the app builds its services
    when it starts and releases them when it stops. Given ``Services`` (tests, embedding),
    it uses them and leaves closing them to the caller. Nothing connects before start-up.
    ``dispatch_outbox=False`` leaves email delivery to another process (or to a test).
    """
    if config is None:
        config = load_settings()
    settings = config if isinstance(config, Settings) else config.settings
    given = config if isinstance(config, Services) else None

    @asynccontextmanager
    async def services_lifespan(app: Litestar) -> AsyncIterator[None]:
        services = given or bootstrap(settings)
        app.state.services = services
        if adopts_stored_billing(settings):
            await adopt_stored_subscriptions(services)
        dispatcher = asyncio.create_task(run_dispatcher(services)) if dispatch_outbox else None
        try:
            yield
        finally:
            if dispatcher is not None:
                dispatcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await dispatcher
            if given is None:
                await services.aclose()

    configure_logging(settings)
    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            *CONTROLLERS,
            plans,
            webhook,
            pages_router(settings),
            create_static_files_router(
                path="/static", directories=[STATIC], name="static", include_in_schema=False
            ),
            *extra_route_handlers,
        ],
        lifespan=[services_lifespan],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "request_tx": Provide(provide_request_tx),
            "uow": Provide(provide_uow),
            "auth": Provide(provide_auth),
            "tx": Provide(provide_tx),
            "ctx": Provide(provide_ctx),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            RequestContextMiddleware(),
            GeneralRateLimitMiddleware(),
            BufferedBodyMiddleware(MAX_BODY_BYTES),
        ],
        before_request=before_request,
        before_send=[stamp_response],
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,  # structlog owns logging; see entrypoints.logs
        openapi_config=OpenAPIConfig(
            title="saascore",
            version=__version__,
            path="/schema",
            render_plugins=[
                SwaggerRenderPlugin(),
                RedocRenderPlugin(),
                JsonRenderPlugin(),
                YamlRenderPlugin(),
            ],
        ),
        debug=False,
    )


def pages_router(settings: Settings) -> Router:
    """The pages for people, whose errors render as pages rather than JSON problems."""
    return Router(
        path="/",
        route_handlers=[
            *HOME_PAGES,
            confirm_page,
            confirm_submit,
            *WORKSPACE_PAGES,
            *ADMIN_PAGES,
            *ACCOUNT_PAGES,
            invite_page,
            accept_submit,
            decline_submit,
            sign_in_for_invite,
            *BILLING_PAGES,
            *(STUB_PAGES if offers_billing_stub(settings) else []),
            *([dev_mailbox] if offers_mailbox(settings) else []),
        ],
        exception_handlers=PAGE_ERRORS,
    )
