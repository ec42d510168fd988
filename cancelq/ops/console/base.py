"""What every console page shares: who is asking, whether they may act, the headers, the xsrf check."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import tornado.web
from flower.views import BaseHandler

from cancelq.ops.console.app import Console

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class ConsoleHandler(BaseHandler):  # type: ignore[misc]
    """A console page: Flower's authentication, plus the operator check, the xsrf token on every POST (Flower
    itself skips it under basic auth), a Content-Security-Policy and ``Cache-Control: no-store``."""

    console: Console

    def initialize(self, console: Console) -> None:
        self.console = console

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("X-Frame-Options", "DENY")

    def check_xsrf_cookie(self) -> None:
        super().check_xsrf_cookie()
        tornado.web.RequestHandler.check_xsrf_cookie(self)

    @property
    def operator(self) -> str:
        return operator_of(self)

    def refusal(self) -> str:
        """Why this user may not act ("" when they may)."""
        return self.console.refusal(self.operator)

    def require_operator(self) -> None:
        reason = self.refusal()
        if reason:
            raise tornado.web.HTTPError(403, reason)

    def argument(self, name: str, default: str = "") -> str:
        """A form or query value as sent (templates escape what they show)."""
        value = self.get_argument(name, default, escape=False)
        return str(value or "").strip()

    def page(self, template: str, tab: str, **values: Any) -> None:
        self.render(template, active_tab=tab, console=self.console, operator=self.operator,
                    refusal=self.refusal(), when=when, flash=self.take_flash(), **values)

    def flash(self, message: str) -> None:
        self.set_signed_cookie("cq_flash", message, expires_days=None, httponly=True, samesite="Strict")

    def take_flash(self) -> str:
        raw = self.get_signed_cookie("cq_flash", max_age_days=1)
        if raw is None:
            return ""
        self.clear_cookie("cq_flash")
        return str(raw.decode())

    def done(self, message: str, to: str) -> None:
        """After an action: the message shown once, and back to a page (POST, redirect, GET)."""
        self.flash(message)
        self.redirect(to, status=303)


def operator_of(handler: tornado.web.RequestHandler) -> str:
    """The basic-auth user or OAuth email of the request (Flower has checked them), or "anonymous"."""
    options = handler.application.options  # type: ignore[attr-defined]
    if options.auth:
        return str(handler.current_user or "anonymous")
    header = handler.request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if options.basic_auth and scheme == "Basic":
        try:
            return base64.b64decode(encoded).decode().partition(":")[0] or "anonymous"
        except (binascii.Error, UnicodeDecodeError):
            return "anonymous"
    return "anonymous"


def when(ms: Any) -> str:
    """A time in ms as UTC text ("" for none)."""
    if not ms:
        return ""
    return datetime.fromtimestamp(int(ms) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
