"""`GET /files/{path}`: the embedded backend's signed, expiring links (Supabase serves its own).

A refused link raises LinkRejected, answered by `wearon.http.error_handlers`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from wearon.adapters.blobs.local import LocalBlobStore


def files_route(blobs: LocalBlobStore) -> Route:
    async def serve_file(request: Request) -> Response:
        query = request.query_params
        path = blobs.verify(request.path_params["path"], query.get("expires", ""), query.get("sig", ""))
        return FileResponse(path, media_type="image/jpeg")

    return Route("/files/{path:path}", serve_file, methods=["GET"])
