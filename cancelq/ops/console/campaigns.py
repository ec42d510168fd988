"""The Campaigns pages: the list with progress, rate and ETA; a campaign's counters, controls and report."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import TypeVar

from tornado import web

from cancelq.campaigns.record import CampaignNotFound
from cancelq.campaigns.report import write_csv
from cancelq.ops.console import actions
from cancelq.ops.console.base import ConsoleHandler

T = TypeVar("T")
PREVIEWS = ("would_cancel", "would_accept_buyer_request", "already_cancelled", "cannot_cancel")


def found(action: Callable[[str], T], campaign_id: str) -> T:
    """``action(campaign_id)``, or a 404 for a campaign that does not exist."""
    try:
        return action(campaign_id)
    except CampaignNotFound:
        raise web.HTTPError(404, f"no campaign {campaign_id}") from None


class CampaignListHandler(ConsoleHandler):
    @web.authenticated
    def get(self) -> None:
        self.page("cancelq_campaigns.html", "cancelq-campaigns", campaigns=self.console.client.campaigns(limit=50))


class CampaignHandler(ConsoleHandler):
    @web.authenticated
    def get(self, campaign_id: str) -> None:
        campaign = found(self.console.client.campaign, campaign_id)
        previews = preview_counts(self, campaign_id) if campaign.dry_run else {}
        self.page("cancelq_campaign.html", "cancelq-campaigns", campaign=campaign, previews=previews)


class CampaignProgressHandler(ConsoleHandler):
    """The campaign's live counters as JSON, for the page's progress bar."""

    @web.authenticated
    def get(self, campaign_id: str) -> None:
        campaign = found(self.console.client.campaign, campaign_id)
        eta = campaign.eta_s()
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({**campaign.summary(), "eta_s": None if eta is None else round(eta, 1)}))


class CampaignActionHandler(ConsoleHandler):
    @web.authenticated
    def post(self, campaign_id: str, what: str) -> None:
        self.require_operator()
        if what == "abort" and self.argument("confirm") != "yes":
            self.page("cancelq_campaign_abort.html", "cancelq-campaigns", campaign_id=campaign_id)
            return
        who = actions.Who(self.operator, self.request.remote_ip or "")
        done = actions.campaign(self.console, who, what, campaign_id)
        self.done(done.message, self.reverse_url("cancelq-campaign", campaign_id))


class CampaignReportHandler(ConsoleHandler):
    @web.authenticated
    def get(self, campaign_id: str) -> None:
        rows = found(self.console.client.campaign_report, campaign_id)
        buffer = io.StringIO()
        write_csv(rows, buffer)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{campaign_id}.csv"')
        self.finish(buffer.getvalue())


def preview_counts(handler: ConsoleHandler, campaign_id: str) -> dict[str, int]:
    """A dry run's answers: how many would cancel, would accept a buyer's request, are already cancelled, cannot."""
    counts = dict.fromkeys(PREVIEWS, 0)
    for row in handler.console.client.campaign_report(campaign_id):
        if row.preview in counts:
            counts[row.preview] += 1
    return counts
