"""``energy serve``: an HTTP API over a home (forecasts, the live context, observations, status and
metrics) and a status page, on FastAPI and uvicorn. :func:`~energy_core.serve.app.create_app` builds it."""
