"""The /recommend body: caps from params, exactly one of user_id or items, strict types."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shopseq.serving.schemas import request_model

Request = request_model(max_k=20, max_items=3)


@pytest.mark.parametrize(
    "body",
    [{"user_id": "u1"}, {"user_id": "u1", "k": 20}, {"items": ["a"], "k": 1}, {"items": ["a", "b", "c"]}],
)
def test_valid_bodies(body):
    request = Request(**body)
    assert request.k == body.get("k", 10)


@pytest.mark.parametrize(
    "body, where",
    [
        ({"user_id": "u1", "k": 0}, "k"),
        ({"user_id": "u1", "k": 21}, "k"),
        ({"user_id": "u1", "k": "5"}, "k"),  # strict: no silent coercion of strings
        ({"user_id": "u1", "k": True}, "k"),
        ({"items": ["a", "b", "c", "d"]}, "items"),
        ({"items": []}, "items"),
        ({"items": [""]}, "items"),
        ({"user_id": 5}, "user_id"),
        ({"user_id": "u1", "extra": 1}, "extra"),
        ({}, "exactly one of user_id or items"),
        ({"user_id": "u1", "items": ["a"]}, "exactly one of user_id or items"),
    ],
)
def test_invalid_bodies_name_the_field(body, where):
    with pytest.raises(ValidationError, match=where):
        Request(**body)


def test_the_caps_are_in_the_schema():
    schema = Request.model_json_schema()
    assert schema["properties"]["k"]["maximum"] == 20
    items = next(option for option in schema["properties"]["items"]["anyOf"] if option.get("type") == "array")
    assert (items["minItems"], items["maxItems"]) == (1, 3)
    assert schema["additionalProperties"] is False
