"""Where the recap files link each handed-over lead: `LEADSCORE_DASHBOARD_URL`, the dashboard's
base address (e.g. https://leads.example.com). Unset: the recap names the leads without links
(a file cannot know where the team serves its dashboard)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RecapLinks(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", extra="ignore", frozen=True)

    dashboard_url: str = Field(
        "",
        description="Base URL of the dashboard; the daily recap files then link each "
        "handed-over lead to its lead page there.",
    )
