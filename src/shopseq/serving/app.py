"""The HTTP service: `POST /recommend` and `GET /health` over the registry's champion.

`create_app(params)` builds the app; nothing is loaded until it starts (its lifespan): then the
validated events give user histories and the recent-popularity fallback, `models:/<name>@champion`
is loaded, a `ChampionWatcher` thread swaps in a new champion when the alias moves, and a
`UserHistoriesWatcher` thread re-reads the histories when the validated events file changes.
Invalid requests get FastAPI's 422 with the reason per field. The OpenAPI schema is at
/openapi.json (and `shopseq serve --openapi FILE` writes it).
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations at
# runtime, and the request model is a per-app class that only exists inside `create_app`.

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

import shopseq
from shopseq.config import Params
from shopseq.serving.champion import ChampionSource, ModelHolder
from shopseq.serving.recommend import recommend
from shopseq.serving.schemas import Health, RecommendResponse, ScoredItem, request_model
from shopseq.serving.users import UsersHolder, load_user_histories
from shopseq.serving.watcher import ChampionWatcher, UserHistoriesWatcher

log = logging.getLogger(__name__)

DESCRIPTION = """Next-item recommendations from the shopseq champion model.

* `POST /recommend` answers top-K items for a known user (their history from the validated events)
  or for an ad-hoc item sequence. Unknown users, and sequences with no item the model knows, get
  the fallback: recent popularity (items with most events in the last `serve.recent_days` days).
  Every response names the model version that answered.
* `GET /health` names the served version, when it was loaded and when the alias was last checked.
* The service follows the registry alias `champion` every `serve.poll_seconds` and swaps to a new
  champion without a restart; requests in flight finish on the model they started with.
* On the same period it checks the validated events; when they changed, user histories (and the
  fallback ranking) are re-read and swapped in whole, so new users are known without a restart.
"""


@dataclass(frozen=True)
class Service:
    """What the endpoints read: the model and user-history holders and their watchers."""

    holder: ModelHolder
    watcher: ChampionWatcher
    users: UsersHolder
    users_watcher: UserHistoriesWatcher


def create_app(params: Params) -> FastAPI:
    """The FastAPI app for `params` (serve caps, registry model name, validated data path)."""
    config = params.serve
    RecommendRequest = request_model(config.max_k, config.max_items)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if config.threads:
            import torch

            torch.set_num_threads(config.threads)  # one request per core beats two threads fighting per request
        users = UsersHolder(load_user_histories(params.paths.validated, config.recent_days))
        source = ChampionSource.from_params(params)
        holder = ModelHolder(source.load_champion())
        watcher = ChampionWatcher(holder, source.champion_version, source.load, config.poll_seconds)
        users_watcher = UserHistoriesWatcher(users, params.paths.validated, config.recent_days, config.poll_seconds)
        watcher.start()
        users_watcher.start()
        app.state.service = Service(holder, watcher, users, users_watcher)
        log.info("serving %s version %s", holder.current.name, holder.current.version)
        try:
            yield
        finally:
            watcher.stop()
            users_watcher.stop()

    app = FastAPI(
        title="shopseq recommendations",
        version=shopseq.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )

    @app.exception_handler(HTTPException)
    async def unreadable_body_is_invalid_input(request: Request, error: HTTPException):
        # FastAPI answers 400 for a body it cannot even decode (e.g. not UTF-8); for the caller that is
        # invalid input like any other, so it gets the same 422 shape with the reason.
        if error.status_code == 400:
            detail = [{"loc": ["body"], "msg": f"{error.detail}: send a UTF-8 JSON object", "type": "body_unreadable"}]
            return JSONResponse(status_code=422, content={"detail": detail})
        return await http_exception_handler(request, error)

    @app.post(
        "/recommend",
        response_model=RecommendResponse,
        summary="Top-K next items for a user or an item sequence",
        responses={422: {"description": "Invalid request: the body names each field that is wrong and why."}},
    )
    def post_recommend(body: RecommendRequest, request: Request) -> RecommendResponse:
        service: Service = request.app.state.service
        served = service.holder.current  # one read: this request uses this model to the end
        users = service.users.current  # and these histories
        if body.user_id is not None:
            history = users.histories.get(body.user_id)
            reason = None if history else "unknown user"
            answer = recommend(served.model, history or [], body.k, users.fallback, reason, user_id=body.user_id)
        else:
            answer = recommend(served.model, body.items, body.k, users.fallback)
        return RecommendResponse(
            model_name=served.name,
            model_version=served.version,
            source=answer.source,
            fallback_reason=answer.fallback_reason,
            user_id=body.user_id,
            k=body.k,
            items=[
                ScoredItem(rank=rank, item_id=item, score=score)
                for rank, (item, score) in enumerate(zip(answer.item_ids, answer.scores), start=1)
            ],
            unknown_items=answer.unknown_items,
        )

    @app.get("/health", response_model=Health, summary="The served model version and the watcher's state")
    def get_health(request: Request) -> Health:
        service: Service = request.app.state.service
        served = service.holder.current
        users = service.users.current
        return Health(
            model_name=served.name,
            model_version=served.version,
            model_uri=served.uri,
            loaded_at=served.loaded_at,
            last_checked=service.watcher.last_checked,
            last_check_error=service.watcher.last_error,
            poll_seconds=service.watcher.poll_seconds,
            n_users=len(users.histories),
            n_items=len(served.model.item_ids),
            users_loaded_at=users.loaded_at,
            users_check_error=service.users_watcher.last_error,
        )

    return app
