"""A lean way to serve the few routes that run hundreds of times a second.

FastAPI's request machinery (dependency resolution, parameter models, response re-validation,
its route and exception plumbing) costs more CPU than the work of a worker's `next` or
`submit`: measured on the dispatch service, over half of a request. `LeanRoute` keeps such a
route a normal FastAPI route (its signature still makes the OpenAPI schema, and the app's
middlewares and exception handlers still apply) but serves it with a handler built once from
that signature, supporting just what those routes use:

- path parameters (`str`), query parameters (`Annotated[T, Query(...)]` with a default),
- one JSON body (a pydantic model), parsed as FastAPI parses it,
- dependencies that need only the request (`Annotated[T, Depends(fn)]`, `fn(request)`),
- a pydantic model, a `Response`, or nothing (for a 204 route) as the result.

Bad input fails exactly as it does under FastAPI: `RequestValidationError` with the same
error entries, or 400 for a body that cannot be parsed (tests/unit/test_leanroute.py runs both
on the same requests). Any other kind of parameter is refused when the app is built.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends as DependsInfo
from fastapi.params import Query as QueryInfo
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_NO_BODY = frozenset({204, 304})


@dataclass(frozen=True)
class _Query:
    name: str
    adapter: TypeAdapter[Any]
    default: Any


@dataclass(frozen=True)
class _Plan:
    """What the handler fills each parameter of the endpoint with."""

    path: tuple[str, ...]
    query: tuple[_Query, ...]
    body: tuple[str, type[BaseModel]] | None
    dependencies: tuple[tuple[str, Callable[[Request], Awaitable[Any]]], ...]


class LeanRoute(APIRoute):
    """Use as `APIRouter(route_class=LeanRoute)` for a router of hot routes."""

    def get_route_handler(self) -> Handler:
        return _handler(self.endpoint, _plan(self.endpoint, self.path_format), self.status_code)


def _plan(endpoint: Callable[..., Any], path: str) -> _Plan:
    hints = get_type_hints(endpoint, include_extras=True)
    path_names, query, body, dependencies = [], [], None, []
    for name, parameter in inspect.signature(endpoint).parameters.items():
        hint = hints[name]
        metadata = get_args(hint)[1:] if get_origin(hint) is Annotated else ()
        depends = next((m for m in metadata if isinstance(m, DependsInfo)), None)
        if depends is not None and depends.dependency is not None:
            dependencies.append((name, depends.dependency))
        elif "{" + name + "}" in path:
            path_names.append(name)
        elif inspect.isclass(hint) and issubclass(hint, BaseModel) and body is None:
            body = (name, hint)
        elif any(isinstance(m, QueryInfo) for m in metadata):
            if parameter.default is inspect.Parameter.empty:
                raise TypeError(f"{endpoint.__name__}: query parameter {name} needs a default")
            query.append(_Query(name, TypeAdapter(hint), parameter.default))
        else:
            raise TypeError(f"{endpoint.__name__}: a lean route cannot fill parameter {name}")
    return _Plan(tuple(path_names), tuple(query), body, tuple(dependencies))


def _handler(endpoint: Callable[..., Any], plan: _Plan, status_code: int | None) -> Handler:
    async def handle(request: Request) -> Response:
        # FastAPI's order: the body is read (and a malformed one refused) first, then the
        # dependencies run (and may refuse), then every parameter's errors are gathered.
        body = await _json_body(request) if plan.body is not None else None
        values: dict[str, Any] = {}
        for name, dependency in plan.dependencies:
            values[name] = await dependency(request)
        errors: list[Any] = []
        for name in plan.path:
            values[name] = request.path_params[name]
        for query in plan.query:
            raw = request.query_params.get(query.name)
            if raw is None:
                values[query.name] = query.default
                continue
            try:
                values[query.name] = query.adapter.validate_python(raw)
            except ValidationError as exc:
                errors.extend(_located(exc, ("query", query.name)))
        if plan.body is not None:
            name, model = plan.body
            if body is _MISSING:
                errors.append(_MISSING_BODY)
            else:
                try:
                    values[name] = model.model_validate(body, from_attributes=True)
                except ValidationError as exc:
                    errors.extend(_located(exc, ("body",)))
        if errors:
            raise RequestValidationError(errors)
        result = await endpoint(**values)
        if isinstance(result, Response):
            return result
        code = status_code or 200
        if code in _NO_BODY:
            return Response(status_code=code, media_type="application/json")
        body = b"null" if result is None else result.model_dump_json(by_alias=True)
        return Response(body, status_code=code, media_type="application/json")

    return handle


_MISSING = object()
_MISSING_BODY = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}


async def _json_body(request: Request) -> Any:
    """The body as FastAPI reads it: JSON when the content type says so, else the bytes
    (which then fail validation); nothing at all is a missing body."""
    raw = await request.body()
    if not raw:
        return _MISSING
    if not _is_json(request.headers.get("content-type", "")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error]) from exc
    except (ValueError, RecursionError) as exc:  # e.g. nested deeper than the parser goes
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = kind.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _located(error: ValidationError, prefix: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [
        {**e, "loc": (*prefix, *e["loc"])}
        for e in error.errors(include_url=False, include_context=True)
    ]
