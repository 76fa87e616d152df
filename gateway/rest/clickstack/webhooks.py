"""ClickStack webhooks: `/api/v2/webhooks` (alerts:read / alerts:write).

    GET    /api/v2/webhooks        paginated like alerts
    POST   /api/v2/webhooks        {data: webhook}   body {name, url, service?, description?,
                                                      secret?}; the secret is never returned
    PUT    /api/v2/webhooks/{id}   {data: webhook}   without `secret` the stored one is kept
    DELETE /api/v2/webhooks/{id}   {}; 409 while an alert uses it

Fields (issue #10): any field the spec's `WebhookInput` does not define (plus our `secret`)
is a 400 naming it; the response's read-only fields (`id`, `hasSecret`, `createdAt`,
`updatedAt`) are accepted and ignored, so a GET body can be PUT back. The spec's templated
request (`body`, `headers`, `queryParams`) is not implemented: accepted only empty (null, ""
or {}), else a 400 saying so, rather than a webhook that silently sends something else.
"""

from __future__ import annotations

from typing import Any, Required

from starlette.requests import Request
from starlette.routing import Route
from typing_extensions import TypedDict

from gateway.context import Context
from gateway.drafts import WebhookDraft
from gateway.errors import FieldError, InvalidInput
from gateway.rest.base import read_json, resolver_info, unknown_fields
from gateway.rest.clickstack.alerts import Empty
from gateway.rest.clickstack.paging import Page, PageQuery, page_params, paged
from gateway.rest.clickstack.surface import surface
from gateway.rest.wire import iso_z
from gateway.types.alerts import Webhook
from resolvers import alerts as resolvers

__all__ = ["WebhookBody", "routes", "webhook_body"]

BASE = "/api/v2/webhooks"
_READ, _WRITE = "alerts:read", "alerts:write"

_FIELDS = ("name", "url", "service", "description", "secret")
_READ_ONLY = ("id", "hasSecret", "createdAt", "updatedAt")
_UNSUPPORTED = ("body", "headers", "queryParams")


class WebhookBody(TypedDict):
    id: str
    name: str
    service: str
    url: str
    description: str | None
    hasSecret: bool  # deliveries are signed; the secret itself is never returned
    createdAt: str
    updatedAt: str


class OneWebhook(TypedDict):
    data: WebhookBody


class WebhookInput(TypedDict, total=False):
    name: Required[str]
    url: Required[str]
    service: str
    description: str | None
    secret: str | None  # PUT without it keeps the stored secret


def webhook_body(w: Webhook) -> WebhookBody:
    return {"id": w.id, "name": w.name, "service": w.service, "url": w.url,
            "description": w.description, "hasSecret": w.has_secret,
            "createdAt": iso_z(w.created_at), "updatedAt": iso_z(w.updated_at)}


async def _draft(ctx: Context, request: Request, *, replacing: bool) -> WebhookDraft:
    body = await read_json(request, ctx.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise InvalidInput.field("body must be a JSON object", "body")
    errors = unknown_fields(body, (*_FIELDS, *_UNSUPPORTED), ignored=_READ_ONLY)
    errors.extend(FieldError(f"{name} (templated requests) is not supported by this gateway",
                             (name,))
                  for name in _UNSUPPORTED if body.get(name) not in (None, "", {}))
    return WebhookDraft(name=body.get("name"), url=body.get("url"),
                        service=body.get("service", "generic"),
                        description=body.get("description"), secret=body.get("secret"),
                        keep_secret=replacing and "secret" not in body,
                        body_errors=tuple(errors))


async def list_webhooks(ctx: Context, request: Request) -> Any:
    """The pixel's webhooks, a page at a time"""
    limit, offset = page_params(request)
    found, total = await resolvers.webhooks_page(resolver_info(ctx), limit, offset)
    return paged([webhook_body(w) for w in found], total, limit, offset)


async def create_webhook(ctx: Context, request: Request) -> OneWebhook:
    """Create a webhook alerts can notify"""
    draft = await _draft(ctx, request, replacing=False)
    return {"data": webhook_body(await resolvers.create_webhook(resolver_info(ctx), draft))}


async def replace_webhook(ctx: Context, request: Request) -> OneWebhook:
    """Replace a webhook"""
    draft = await _draft(ctx, request, replacing=True)
    return {"data": webhook_body(await resolvers.replace_webhook(
        resolver_info(ctx), request.path_params["id"], draft))}


async def delete_webhook(ctx: Context, request: Request) -> Empty:
    """Delete a webhook no alert uses"""
    await resolvers.resolve_delete_webhook(resolver_info(ctx), request.path_params["id"])
    return {}


def routes() -> list[Route]:
    return [
        surface.route("GET", BASE, list_webhooks, twin="Query.webhooks", scope=_READ,
                      query=PageQuery, response=Page[WebhookBody]),
        surface.route("POST", BASE, create_webhook, twin="Mutation.createWebhook",
                      scope=_WRITE, body=WebhookInput, response=OneWebhook),
        surface.route("PUT", BASE + "/{id}", replace_webhook, twin="Mutation.updateWebhook",
                      scope=_WRITE, body=WebhookInput, response=OneWebhook),
        surface.route("DELETE", BASE + "/{id}", delete_webhook, twin="Mutation.deleteWebhook",
                      scope=_WRITE, response=Empty),
    ]
