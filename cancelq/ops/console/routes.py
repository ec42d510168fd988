"""The console's URLs, all under ``/cancelq``."""

from __future__ import annotations

from typing import Any

from tornado.web import StaticFileHandler, url

from cancelq.ops.console.app import Console
from cancelq.ops.console.audit import AuditHandler
from cancelq.ops.console.campaigns import (
    CampaignActionHandler,
    CampaignHandler,
    CampaignListHandler,
    CampaignProgressHandler,
    CampaignReportHandler,
)
from cancelq.ops.console.deadletters import (
    DeadBulkHandler,
    DeadEntryActionHandler,
    DeadEntryHandler,
    DeadExportHandler,
    DeadListHandler,
    HomeHandler,
)
from cancelq.ops.console.jobs import JobFindHandler, JobHandler, JobStateHandler
from cancelq.ops.console.shops import ShopsActionHandler, ShopsHandler

ID = r"([0-9A-Za-z_.:-]+)"


def handlers(console: Console, static_path: str) -> list[Any]:
    c = {"console": console}
    return [
        url(r"/cancelq/?", HomeHandler, c, name="cancelq"),
        url(r"/cancelq/dead", DeadListHandler, c, name="cancelq-dead"),
        url(r"/cancelq/dead/act", DeadBulkHandler, c, name="cancelq-dead-act"),
        url(r"/cancelq/dead/export", DeadExportHandler, c, name="cancelq-dead-export"),
        url(rf"/cancelq/dead/{ID}/(replay|purge)", DeadEntryActionHandler, c, name="cancelq-dead-action"),
        url(rf"/cancelq/dead/{ID}", DeadEntryHandler, c, name="cancelq-dead-entry"),
        url(r"/cancelq/campaigns", CampaignListHandler, c, name="cancelq-campaigns"),
        url(rf"/cancelq/campaign/{ID}/progress", CampaignProgressHandler, c, name="cancelq-campaign-progress"),
        url(rf"/cancelq/campaign/{ID}/report", CampaignReportHandler, c, name="cancelq-campaign-report"),
        url(rf"/cancelq/campaign/{ID}/(pause|resume|abort|redo)", CampaignActionHandler, c,
            name="cancelq-campaign-action"),
        url(rf"/cancelq/campaign/{ID}", CampaignHandler, c, name="cancelq-campaign"),
        url(r"/cancelq/shops", ShopsHandler, c, name="cancelq-shops"),
        url(r"/cancelq/shops/(close-circuit|pause|resume)", ShopsActionHandler, c, name="cancelq-shops-action"),
        url(r"/cancelq/jobs", JobFindHandler, c, name="cancelq-jobs"),
        url(rf"/cancelq/job/{ID}/state", JobStateHandler, c, name="cancelq-job-state"),
        url(rf"/cancelq/job/{ID}", JobHandler, c, name="cancelq-job"),
        url(r"/cancelq/audit", AuditHandler, c, name="cancelq-audit"),
        url(r"/cancelq/static/(.*)", StaticFileHandler, {"path": static_path}, name="cancelq-static"),
    ]
