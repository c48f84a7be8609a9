"""ASGI entry point for `uvicorn schema.asgi:app` (multi-worker `lendline serve --workers N`)."""

from schema.app import create_app

app = create_app()
