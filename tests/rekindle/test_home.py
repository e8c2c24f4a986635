"""The home page: the three steps, and real before/after examples with alt text and credits."""

from __future__ import annotations

import json

import pytest

from rekindle.views import EXAMPLES_MANIFEST

pytestmark = pytest.mark.django_db


def test_home_shows_the_three_steps(client):
    html = client.get("/").content.decode()
    for step in ("1. Photograph or scan", "2. Straighten", "3. Restore, compare, share"):
        assert step in html


def test_home_shows_each_example_before_and_after_with_alt_text_and_credit(client):
    response = client.get("/")
    html = response.content.decode()
    assert "restored them with Rekindle on this server" in html
    examples = json.loads(EXAMPLES_MANIFEST.read_text())["examples"]
    assert len(examples) == 3
    for example in examples:
        for side in ("before", "after"):
            assert f'src="/static/{example[side]}"' in html
        assert f'alt="Before: {example["alt"]}, with scratches, dust and fading"' in html
        assert f'alt="After: {example["alt"]}, restored by Rekindle"' in html
        assert f'width="{example["width"]}" height="{example["height"]}"' in html
        assert example["credit"] in html
        assert client.get(f"/static/{example['after']}").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("engine", "promised"), [("local", False), ("runpod", True)])
def test_the_home_page_promises_colour_only_where_the_engine_colourizes(client, settings, engine, promised):
    settings.ENGINE = engine
    html = client.get("/").content.decode()
    assert ("can add colour to black-and-white pictures" in html) is promised
