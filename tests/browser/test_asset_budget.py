"""The pages ship at most 100 KB of CSS + JS, gzip-compressed, in total."""

from __future__ import annotations

import gzip
import re

import pytest
from django.contrib.staticfiles import finders

BUDGET_BYTES = 100 * 1024


@pytest.mark.django_db
def test_css_and_js_of_the_pages_fit_the_budget(client, capsys):
    html = client.get("/").content.decode() + client.get("/accounts/login/").content.decode()
    assets = sorted(set(re.findall(r'(?:src|href)="/static/([^"]+\.(?:css|js))"', html)))
    assets.append("js/sw.js")
    sizes = {}
    for asset in assets:
        with open(finders.find(asset), "rb") as fh:
            sizes[asset] = len(gzip.compress(fh.read(), compresslevel=9))
    total = sum(sizes.values())
    with capsys.disabled():
        print(f"\nCSS+JS shipped (gzip): {total / 1024:.1f} KB of {BUDGET_BYTES // 1024} KB — {sizes}")
    assert "css/app.css" in sizes and "vendor/htmx.min.js" in sizes
    assert total <= BUDGET_BYTES
