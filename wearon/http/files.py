"""`GET /files/{path}`: the embedded backend's signed, expiring links (Supabase serves its own)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from wearon.adapters.blobs.local import LocalBlobStore
from wearon.errors import LinkRejected

_STATUS = {"link_expired": 410, "not_found": 404}


def files_route(blobs: LocalBlobStore) -> Route:
    async def serve_file(request: Request) -> Response:
        query = request.query_params
        try:
            path = blobs.verify(request.path_params["path"], query.get("expires", ""), query.get("sig", ""))
        except LinkRejected as exc:
            body = {"error": {"code": exc.code, "message": str(exc)}}
            return JSONResponse(body, status_code=_STATUS.get(exc.code, 403))
        return FileResponse(path, media_type="image/jpeg")

    return Route("/files/{path:path}", serve_file, methods=["GET"])
