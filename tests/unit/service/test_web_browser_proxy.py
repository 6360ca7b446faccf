"""Single sign-on in a real headless Chromium: the user header of a trusted proxy opens a session.

The browser stands in for the proxy: it sends the header itself (Chrome
DevTools' extra headers) from 127.0.0.1, the address the site trusts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from sqlalchemy.orm import Session

from slurm_carbon.config import parse_config
from slurm_carbon.service.api import MungeDecoder, ReadAccess
from slurm_carbon.store import SessionFactory
from tests.unit.service.test_api_auth import SITE_FIELDS, RecordedUnmunge, users
from tests.unit.service.test_web_browser import (
    browser,
    console_errors,
    save,
    shown,
)
from tests.unit.service.test_web_cli import serve
from tests.unit.service.test_web_proxy import names

__all__ = ["browser"]  # the fixture (it skips or fails without a browser), shared


@pytest.fixture
def behind_proxy(session: Session, factory: SessionFactory) -> Iterator[str]:
    web = {"trusted_proxies": ["127.0.0.1"], "user_header": "X-Remote-User"}
    access = ReadAccess(
        site=parse_config(SITE_FIELDS | {"web": web}),
        decoder=MungeDecoder(runner=RecordedUnmunge()),
        users=users,
        names=names,
    )
    yield from serve(session, factory, access)


def test_the_proxys_user_header_opens_the_overview(
    behind_proxy: str, browser: webdriver.Chrome
) -> None:
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Remote-User": "alice"}})
    browser.get(f"{behind_proxy}/web/")
    assert "alice (user)" in browser.page_source
    assert shown(browser, "total-jobs") == "4"  # alice's own jobs, as in test_web
    assert console_errors(browser) == []
    save(browser, "overview-proxy-alice.png")
