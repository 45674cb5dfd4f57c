"""Request and response bodies of the HTTP service, documented for its OpenAPI schema.

The request model is built per app because its caps (largest K, longest sequence) come from
params.yaml `serve`; the caps then show up in the schema as `maximum` and `maxItems`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_ID_LENGTH = 128
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]


def request_model(max_k: int, max_items: int) -> type[BaseModel]:
    """The `POST /recommend` body with K capped at `max_k` and sequences at `max_items` items."""
    default_k = min(10, max_k)

    class RecommendRequest(BaseModel):
        """Ask for the next items of one known user or of an ad-hoc item sequence (exactly one)."""

        model_config = ConfigDict(
            extra="forbid",
            json_schema_extra={
                "examples": [{"user_id": "u00042", "k": 20}, {"items": ["i00017", "i00231", "i00005"], "k": 10}]
            },
        )

        user_id: Optional[Identifier] = Field(
            None,
            title="User id",
            description="A user of the validated events; their history is looked up. An unknown user "
            "gets the recent-popularity fallback. Give either user_id or items, not both.",
            examples=["u00042"],
        )
        items: Optional[list[Identifier]] = Field(
            None,
            title="Item sequence",
            description=f"Ad-hoc history of item ids, oldest first, 1 to {max_items} items. Items the model "
            "does not know are ignored and listed in `unknown_items`; with none known the answer is "
            "the recent-popularity fallback.",
            min_length=1,
            max_length=max_items,
            examples=[["i00017", "i00231", "i00005"]],
        )
        k: int = Field(
            default_k,
            title="K",
            description=f"How many items to return, 1 to {max_k}.",
            ge=1,
            le=max_k,
            strict=True,
            examples=[20],
        )

        @model_validator(mode="after")
        def _exactly_one_subject(self) -> "RecommendRequest":
            if (self.user_id is None) == (self.items is None):
                raise ValueError("give exactly one of user_id or items")
            return self

    return RecommendRequest


class ScoredItem(BaseModel):
    """One recommended item."""

    rank: int = Field(title="Rank", description="1 = most likely next.", examples=[1])
    item_id: str = Field(title="Item id", examples=["i00231"])
    score: float = Field(
        title="Score",
        description="source=model: the model's probability that this is the next item (softmax over the "
        "catalogue); source=recent_popularity: the item's share of recent events.",
        examples=[0.087],
    )


class RecommendResponse(BaseModel):
    """Top-K items, where they came from, and the model version that answered."""

    model_name: str = Field(title="Registered model", examples=["shopseq-next-item"])
    model_version: str = Field(title="Model version", description="The registry version that answered.", examples=["3"])
    source: Literal["model", "recent_popularity"] = Field(
        title="Source",
        description="`model`: ranked by the champion; `recent_popularity`: the fallback for unknown users "
        "and for sequences with no item known to the model (most events in the last `serve.recent_days` days).",
    )
    fallback_reason: Optional[str] = Field(
        None, title="Fallback reason", description="Why the fallback answered (null when the model did).",
        examples=["unknown user"],
    )
    user_id: Optional[str] = Field(None, title="User id", description="Echo of the request's user_id.")
    k: int = Field(title="K", description="Items asked for (fewer come back only if the catalogue is smaller).")
    items: list[ScoredItem] = Field(title="Items", description="Most likely next first.")
    unknown_items: list[str] = Field(
        default_factory=list, title="Unknown items", description="History items the model does not know (ignored).",
    )


class Health(BaseModel):
    """The served model and the state of the champion watcher."""

    status: Literal["ok"] = "ok"
    model_name: str = Field(title="Registered model")
    model_version: str = Field(title="Served version", examples=["3"])
    model_uri: str = Field(title="Loaded URI", examples=["models:/shopseq-next-item/3"])
    loaded_at: datetime = Field(title="Loaded at", description="When the served version was loaded (UTC).")
    last_checked: Optional[datetime] = Field(
        None, title="Last alias check", description="When the champion alias was last checked (UTC)."
    )
    last_check_error: Optional[str] = Field(
        None, title="Last check error", description="Why the last check or load failed (null when it did not)."
    )
    poll_seconds: float = Field(title="Poll interval", description="Seconds between champion alias checks.")
    n_users: int = Field(title="Known users", description="Users with a history in the validated events.")
    n_items: int = Field(title="Model items", description="Items the served model can rank.")
    users_loaded_at: Optional[datetime] = Field(
        None, title="Users loaded at", description="When the user histories were last read from the validated events (UTC)."
    )
    users_check_error: Optional[str] = Field(
        None, title="Last users check error",
        description="Why the last check or reload of the validated events failed (null when it did not).",
    )
