"""A stand-in for Supabase's HTTP front (PostgREST RPC + Storage), because the real one cannot run
here. Real PostgreSQL is behind it: RPC calls run the contract's SQL functions from
supabase/migrations in a database shaped like the app's (tests/fixtures/app_database.sql).

RPC is executed the way PostgREST executes it, so grants are exercised: the stand-in logs in as
`authenticator` (a role with no rights of its own) and runs each call in its own transaction after
`set local role` to the role the request's key names (service_role, or anon), with the key's claims
in `request.jwt.claims`. A function the role may not execute fails as it does on Supabase (42501,
HTTP 403); one that does not exist in `public` is PGRST202 (404), and one that exists but calls a
missing function fails inside it (42883, 404).

Speaks exactly what our adapters use, on the real wire format:
  POST /rest/v1/rpc/<function>            JSON args -> the function's JSON result; PostgREST's error
                                          JSON {"code","message","details","hint"} on failure
  POST /storage/v1/object/<bucket>/<path> multipart "file", x-upsert -> {"Key", "Id"}
  POST /storage/v1/object/sign/<bucket>/<path>  {"expiresIn"} -> {"signedURL": "/object/sign/...?token="}
  GET  /storage/v1/object/sign/<bucket>/<path>?token=  -> the bytes
  GET  /storage/v1/object/info/<bucket>/<path>  -> the object's info (storage3's `exists` reads it)
  GET  /storage/v1/bucket/<bucket>        -> the bucket's record (a start-up check reads it)
Each requires a project key as `apikey` and `Authorization: Bearer` (401 otherwise): RPC takes the
service-role key or the anon key, Storage only the service-role key.
Storage knows only the buckets in `buckets` (the app's `images`): any other is refused as Supabase
Storage refuses it (HTTP 400, `{"statusCode": "404", "error": "Bucket not found"}`), and an
object is served with the content type it was uploaded with.

Outages, for tests: `outage = True` makes every call answer 503 with Supabase's JSON, as when the
database is away (`failing_calls` does it for the next calls of one function only);
`proxy_error = True` answers 502 with an HTML page, as a load balancer in front of it does;
`dropped_uploads = n` drops the connection of the next n uploads after reading them (the answer's
head sent, its body never), as a keep-alive connection closed under a request does. (For a
refused connection, point the client at a closed port.) `clock` is what signed links expire against.

Served over real HTTP by `tests.helpers.backends.supabase_backend()`; the contract suite shares one
per session (the `supabase` fixture in tests/contract/conftest.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

#: Shaped like real project keys (JWTs whose payload names the role), though supabase-py 2.34
#: accepts any non-empty string.
SERVICE_ROLE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c3RhbmRpbi1zaWduYXR1cmU"
)
ANON_KEY = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYW5vbiJ9.c3RhbmRpbi1zaWduYXR1cmU"
#: The role PostgREST logs in as; it switches to the request's role for each call.
LOGIN_ROLE = "authenticator"
#: Database connections kept by one stand-in, as PostgREST's pool (PostgreSQL allows ~100 in all).
POOL_SIZE = 8


@dataclass
class SupabaseStandIn:
    dsn: str
    key: str = SERVICE_ROLE_KEY
    anon_key: str = ANON_KEY
    outage: bool = False
    proxy_error: bool = False
    #: What signed links are checked against; a test moves it forward to expire them.
    clock: Callable[[], float] = time.time
    #: The buckets that exist (created by the app, not by us).
    buckets: frozenset[str] = frozenset({"images"})
    #: "<bucket>/<path>" -> the object's bytes, and the content type it was uploaded with.
    objects: dict[str, bytes] = field(default_factory=dict)
    content_types: dict[str, str] = field(default_factory=dict)
    rpc_calls: int = 0
    #: Function name -> how many of its next calls answer 503, as if the database dropped them.
    failing_calls: dict[str, int] = field(default_factory=dict)
    #: How many of the next uploads have their connection dropped instead of an answer.
    dropped_uploads: int = 0
    uploads: int = 0

    def __post_init__(self) -> None:
        self._pool: queue.Queue[psycopg.Connection[Any] | None] = queue.Queue()
        for _ in range(POOL_SIZE):
            self._pool.put(None)
        self._opened: list[psycopg.Connection[Any]] = []
        self._secret = uuid.uuid4().bytes
        self.app = Starlette(
            routes=[
                Route("/rest/v1/rpc/{function}", self.rpc, methods=["POST"]),
                Route("/storage/v1/object/sign/{bucket}/{path:path}", self.sign, methods=["POST"]),
                Route("/storage/v1/object/sign/{bucket}/{path:path}", self.download, methods=["GET"]),
                Route("/storage/v1/object/info/{bucket}/{path:path}", self.info, methods=["GET"]),
                Route("/storage/v1/object/{bucket}/{path:path}", self.upload, methods=["POST", "PUT"]),
                Route("/storage/v1/bucket/{bucket}", self.bucket, methods=["GET"]),
            ]
        )

    def reset(self) -> None:
        """Back to a healthy, empty storage, for the next test on a long-lived stand-in."""
        self.outage = self.proxy_error = False
        self.failing_calls.clear()
        self.dropped_uploads = self.uploads = 0
        self.clock = time.time
        self.objects.clear()
        self.content_types.clear()

    # --- PostgREST ------------------------------------------------------------------------------

    async def rpc(self, request: Request) -> Response:
        if denied := self._denied(request, storage=False):
            return denied
        function = request.path_params["function"]
        role = _role_of(request.headers["authorization"].removeprefix("Bearer "))
        try:
            args = json.loads(await request.body())
        except ValueError:
            args = None
        if not isinstance(args, dict):
            return _pgrst(400, "PGRST102", "Empty or invalid json")
        self.rpc_calls += 1
        if self.failing_calls.get(function, 0) > 0:
            self.failing_calls[function] -= 1
            return _pgrst(503, "PGRST000", "Could not connect with the database")
        try:
            result = await run_in_threadpool(self._call, function, args, role)
        except psycopg.errors.UndefinedFunction as exc:
            # PostgREST looks the function up in its schema cache first, by name and parameter
            # names (PGRST202); one that exists but calls a missing one (the app's refund_credits
            # renamed) fails inside, 42883.
            if not await run_in_threadpool(self._in_schema, function, sorted(args)):
                missing = f"Could not find the function public.{function} in the schema cache"
                return _pgrst(404, "PGRST202", missing)
            return _postgres_error(exc)
        except psycopg.Error as exc:
            return _postgres_error(exc)
        return JSONResponse(result)

    def _in_schema(self, function: str, parameters: list[str]) -> bool:
        conn = self._borrow()
        try:
            found = conn.execute(_FUNCTION_WITH_PARAMETERS, (function, parameters)).fetchone()
        finally:
            self._pool.put(conn)
        return bool(found and found[0])

    def _call(self, function: str, args: dict[str, Any], role: str) -> Any:
        """As PostgREST: one transaction, as the request's role, with its claims; a scalar result
        as that JSON value, one composite row (OUT parameters) as an object, a set as an array."""
        named = sql.SQL(", ").join(
            sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in sorted(args)
        )
        conn = self._borrow()
        try:
            with conn.transaction():
                conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
                conn.execute(
                    "select set_config('request.jwt.claims', %s, true)", (json.dumps({"role": role}),)
                )
                shape = _RESULT_SHAPES[_result_shape(conn, function)]
                query = sql.SQL(shape).format(fn=sql.Identifier(function), args=named)
                row = conn.execute(query, {k: _json_arg(v) for k, v in args.items()}).fetchone()
        except psycopg.OperationalError:
            conn.close()
            self._flush()
            raise
        finally:
            self._pool.put(conn)
        return row[0] if row else None

    def _flush(self) -> None:
        """A connection was lost: every idle one is dropped too, as PostgREST flushes its pool
        (AppState.flushPool), so that requests after the database is back reconnect instead of
        each meeting a connection the outage broke."""
        idle = []
        with contextlib.suppress(queue.Empty):
            while True:
                idle.append(self._pool.get_nowait())
        for conn in idle:
            if conn is not None:
                conn.close()
            self._pool.put(None)

    def _borrow(self) -> psycopg.Connection[Any]:
        """A kept connection (PostgREST pools too), at most POOL_SIZE of them at once."""
        conn = self._pool.get()
        if conn is None or conn.closed:
            try:
                conninfo = make_conninfo(self.dsn, user=LOGIN_ROLE)
                conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=3)
            except psycopg.Error:
                self._pool.put(None)  # give the slot back, or failed connects drain the pool for good
                raise
            self._opened.append(conn)
        return conn

    def close(self) -> None:
        """Close every database connection the stand-in opened."""
        for conn in self._opened:
            conn.close()
        self._opened.clear()

    # --- Storage --------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        if denied := self._denied(request, storage=True) or self._no_bucket(request):
            return denied
        key = f"{request.path_params['bucket']}/{request.path_params['path']}"
        upsert = request.headers.get("x-upsert", "false") == "true" or request.method == "PUT"
        if key in self.objects and not upsert:
            return _storage(400, "Duplicate", "The resource already exists", "409")
        form = await request.form()
        self.uploads += 1
        if self.dropped_uploads > 0:
            self.dropped_uploads -= 1
            return _DroppedConnection()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _storage(400, "InvalidRequest", "file is required")
        self.objects[key] = await upload.read()
        self.content_types[key] = upload.content_type or "application/octet-stream"
        return JSONResponse({"Key": key, "Id": str(uuid.uuid4())})

    async def info(self, request: Request) -> Response:
        if denied := self._denied(request, storage=True) or self._no_bucket(request):
            return denied
        bucket, path = request.path_params["bucket"], request.path_params["path"]
        data = self.objects.get(f"{bucket}/{path}")
        if data is None:
            return _storage(404, "not_found", "Object not found", "404")
        content_type = self.content_types[f"{bucket}/{path}"]
        return JSONResponse(
            {"name": path, "bucket_id": bucket, "size": len(data), "content_type": content_type}
        )

    async def sign(self, request: Request) -> Response:
        if denied := self._denied(request, storage=True) or self._no_bucket(request):
            return denied
        bucket, path = request.path_params["bucket"], request.path_params["path"]
        if f"{bucket}/{path}" not in self.objects:
            return _storage(400, "not_found", "Object not found", "404")
        expires_in = int((await request.json())["expiresIn"])
        token = self._token(f"{bucket}/{path}", int(self.clock()) + expires_in)
        return JSONResponse({"signedURL": f"/object/sign/{bucket}/{path}?token={token}"})

    async def download(self, request: Request) -> Response:
        if missing := self._no_bucket(request):
            return missing
        key = f"{request.path_params['bucket']}/{request.path_params['path']}"
        token = request.query_params.get("token", "")
        expires = token.partition(".")[0]
        if not expires.isdigit() or not hmac.compare_digest(self._token(key, int(expires)), token):
            return _storage(400, "InvalidJWT", "invalid signature")
        if int(expires) < self.clock():
            return _storage(400, "InvalidJWT", '"exp" claim timestamp check failed')
        if key not in self.objects:
            return _storage(400, "not_found", "Object not found", "404")
        return Response(self.objects[key], media_type=self.content_types[key])

    async def bucket(self, request: Request) -> Response:
        """A bucket's record as Storage gives it (every field storage3's Bucket model requires)."""
        if denied := self._denied(request, storage=True) or self._no_bucket(request):
            return denied
        name = request.path_params["bucket"]
        created = "2026-01-01T00:00:00.000Z"
        record = {"id": name, "name": name, "owner": "", "public": False, "type": "STANDARD"}
        record |= {"file_size_limit": None, "allowed_mime_types": None}
        return JSONResponse(record | {"created_at": created, "updated_at": created})

    def _token(self, key: str, expires: int) -> str:
        mac = hmac.new(self._secret, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()
        return f"{expires}.{mac}"

    def _no_bucket(self, request: Request) -> Response | None:
        if request.path_params["bucket"] in self.buckets:
            return None
        # Storage renders its errors as HTTP 400, the real status in the body (storage-api's
        # error handler); supabase-py raises it as a StorageException either way.
        return _storage(400, "Bucket not found", "Bucket not found", "404")

    # --- both -----------------------------------------------------------------------------------

    def _denied(self, request: Request, *, storage: bool) -> Response | None:
        if self.proxy_error:
            return HTMLResponse("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=502)
        if self.outage:
            if storage:
                return _storage(503, "DatabaseError", "Service Unavailable", "503")
            return _pgrst(503, "PGRST000", "Could not connect with the database")
        headers = request.headers
        keys = {self.key} if storage else {self.key, self.anon_key}
        key = headers.get("apikey")
        if key not in keys or headers.get("authorization") != f"Bearer {key}":
            if storage:
                return _storage(400, "Unauthorized", "Invalid Compact JWS", "403")
            return _pgrst(401, "PGRST301", "JWSError JWSInvalidSignature")
        return None


class _DroppedConnection(Response):
    """The head of an answer, then the connection closed: the server fails mid-answer, which
    uvicorn turns into a closed connection (the client reads no body)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
        raise ConnectionAbortedError("stand-in: connection dropped mid-answer")


#: PostgREST's translation of SQLSTATEs to HTTP statuses (docs.postgrest.org, "Errors"), first match
#: wins; anything else is 400.
_SQLSTATE_STATUS = (
    ("08", 503), ("09", 500), ("0L", 403), ("0P", 403), ("23503", 409), ("23505", 409),
    ("25006", 405), ("25", 500), ("28", 403), ("2D", 500), ("38", 500), ("39", 500), ("3B", 500),
    ("40", 500), ("53400", 500), ("53", 503), ("54", 500), ("55", 500), ("57", 500), ("58", 500),
    ("F0", 500), ("HV", 500), ("P0001", 400), ("P0", 500), ("XX", 500), ("42883", 404),
    ("42P01", 404), ("42P17", 500), ("42501", 403),
)  # fmt: skip


def _role_of(key: str) -> str:
    """The `role` claim of a project key (a JWT whose signature the caller has checked)."""
    payload = key.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["role"])


def _http_status(sqlstate: str) -> int:
    return next((status for prefix, status in _SQLSTATE_STATUS if sqlstate.startswith(prefix)), 400)


def _postgres_error(exc: psycopg.Error) -> JSONResponse:
    """What PostgREST answers when the database raised `exc` (or could not be reached)."""
    if exc.sqlstate is None:  # no answer from the server at all
        return _pgrst(503, "PGRST000", "Could not connect with the database")
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return _pgrst(_http_status(exc.sqlstate), exc.sqlstate, message)


#: A function of `public` by this name whose input parameters are exactly these names (sorted).
_FUNCTION_WITH_PARAMETERS = """
select exists (
    select from pg_proc p
    where p.pronamespace = 'public'::regnamespace and p.proname = %s
      and array(select a.name from unnest(coalesce(p.proargnames, '{}'),
                                          coalesce(p.proargmodes::text[], '{}')) as a (name, mode)
                where coalesce(a.mode, 'i') in ('i', 'b') order by a.name) = %s::text[])
"""
#: How PostgREST answers a function, by what it returns: a scalar as that JSON value, one row of a
#: composite type (or of OUT parameters) as an object, a set as an array.
_RESULT_SHAPES = {
    "scalar": "select public.{fn}({args})",
    "row": "select to_jsonb(r) from public.{fn}({args}) as r",
    "set": "select coalesce(jsonb_agg(r), '[]') from public.{fn}({args}) as r",
}


def _json_arg(value: Any) -> Any:
    """A JSON object or array argument reaches a json/jsonb parameter as that JSON, as PostgREST
    passes it (the contract's array arguments are jsonb)."""
    return Jsonb(value) if isinstance(value, dict | list) else value


def _result_shape(conn: psycopg.Connection[Any], function: str) -> str:
    found = conn.execute(
        "select p.proretset, t.typtype = 'c' or p.prorettype = 'record'::regtype from pg_proc p"
        " join pg_type t on t.oid = p.prorettype"
        " where p.pronamespace = 'public'::regnamespace and p.proname = %s limit 1",
        (function,),
    ).fetchone()
    if found is None:
        return "scalar"  # unknown: the call itself fails as PostgREST's would
    returns_set, composite = found
    return "set" if returns_set else "row" if composite else "scalar"


def _pgrst(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": None, "hint": None}, status_code=status)


def _storage(status: int, error: str, message: str, status_code: str | None = None) -> JSONResponse:
    body = {"statusCode": status_code or str(status), "error": error, "message": message}
    return JSONResponse(body, status_code=status)


def main() -> None:
    """Serve the stand-in as its own process (benchmarks): `python -m tests.standins.supabase`."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Supabase HTTP stand-in (PostgREST RPC + Storage)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    uvicorn.run(SupabaseStandIn(dsn=args.dsn).app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
