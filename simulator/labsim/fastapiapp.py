"""The serve-system-chi FastAPI app (`fastapi_pt/app.py`, `fastapi_onnx/app.py`) as the
simulator serves it: same title, description, version, request model and route, so FastAPI
itself gives the same OpenAPI document, 422s and redirects. No `from __future__ import
annotations` here: FastAPI reads the endpoint's annotations as real classes.
"""

import asyncio
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from .modelserver import REDIRECT_TARGET, TITLES, classify, decode_image

if TYPE_CHECKING:
    from .modelserver import ModelServerFleet


class StallMidBody(Response):
    """Headers (with the full Content-Length) and half the body, then nothing until the
    server stops: a client must rely on its own read deadline."""

    def __init__(self, content: bytes, stop: "asyncio.Event") -> None:
        super().__init__(content, media_type="application/json")
        self.stop = stop

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        await self.stop.wait()


class ImageRequest(BaseModel):
    image: str  # Base64 encoded image


def make_fastapi_app(kind: str, fleet: "ModelServerFleet") -> FastAPI:
    title, description = TITLES[kind]
    app = FastAPI(title=title, description=description, version="1.0.0")

    @app.post("/predict")
    async def predict_image(request: ImageRequest, raw: Request):  # noqa: ANN202 - as the lab's
        host = fleet.hosts[raw.scope["server"][0]]
        if host.hostile == "stub":  # no model: one fixed answer, at once
            return {"prediction": "Bread", "probability": 0.9}
        try:
            image = decode_image(request.image)
        except Exception as exc:  # noqa: BLE001 - the lab's app returns every error as JSON
            return {"error": str(exc)}
        await host.infer(raw.scope.get("labgrader.arrival"))
        label, probability = classify(image)
        if host.hostile == "wrong_answer":  # the raw logit instead of the softmax
            return {"prediction": label, "probability": round(probability * 4.7, 4)}
        if host.hostile == "not_json":
            return HTMLResponse(
                f"<!doctype html>\n<html><body><h1>Prediction</h1><p>{label}</p></body></html>\n"
            )
        if host.hostile == "huge_body":
            return Response(fleet.huge_body(), media_type="application/json")
        if host.hostile == "redirect_away":
            return RedirectResponse(REDIRECT_TARGET, status_code=302)
        if host.hostile == "stall_mid_body":
            body = f'{{"prediction": "{label}", "probability": {probability}}}'.encode()
            return StallMidBody(body, fleet.stop_event())
        return {"prediction": label, "probability": probability}

    return app
