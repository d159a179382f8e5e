"""Secure by default: loopback unless a token is set, the token checked on every request but /healthz and
the docs, and never written anywhere (logs, errors, answers)."""

from __future__ import annotations

import httpx
import pytest

from tests.processes import energy

from .conftest import ENTITY, serve_command

TOKEN = "s3cret-serve-token-0123456789"


def test_a_token_guards_every_route_but_health_and_docs(serve):
    server = serve(token=TOKEN)
    for path in ("/v1/status", f"/v1/forecast/{ENTITY}", f"/v1/context/{ENTITY}", "/metrics", "/",
                 "/v1/observations?dataset=eia.region&region=PACW&start=2024-01-01&end=2024-01-02"):
        refused = server.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer <token>" in refused.json()["error"] and TOKEN not in refused.text
    for wrong in (f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer"):
        assert server.get("/v1/status", headers={"Authorization": wrong}).status_code == 401, wrong
    assert server.get("/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert server.get("/v1/status", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    for path in ("/healthz", "/docs", "/openapi.json"):
        assert server.get(path).status_code == 200, path
    schema = server.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_without_a_token_only_loopback_is_served(tmp_path):
    refused = energy("serve", "--host", "0.0.0.0", "--home", str(tmp_path))
    assert refused.returncode == 1
    assert "--host 0.0.0.0 would serve beyond this machine without authentication; set ENERGY_SERVE_TOKEN" in \
        refused.stderr
    short = energy("serve", "--host", "0.0.0.0", "--home", str(tmp_path), env={"ENERGY_SERVE_TOKEN": "tooshort"})
    assert short.returncode == 1 and "ENERGY_SERVE_TOKEN is too short (8 characters" in short.stderr
    assert "tooshort" not in short.stderr + short.stdout


def test_the_token_never_reaches_the_log_or_an_answer(home):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    answers = []
    with serve_command(home, "--debug", "serve", "--access-log", env={"ENERGY_SERVE_TOKEN": TOKEN}) as served:
        for path, headers in [
            ("/v1/status", bearer), (f"/v1/forecast/{ENTITY}", bearer), ("/v1/context/NOPE", bearer),
            ("/v1/context/PACW?hours=-1", bearer), (f"/v1/status?token={TOKEN}", bearer),  # a token in the URL
            ("/v1/status", {"Authorization": f"Bearer {TOKEN}x"}), (f"/{TOKEN}", bearer),
            (f"/v1/observations?dataset={TOKEN}&region=PACW&start=2024-01-01&end=2024-01-02", bearer),
        ]:
            answer = httpx.get(served.url + path, headers=headers, timeout=60)
            answers.append((answer.status_code, answer.text))
    log = "".join(served.output)
    assert [status for status, _ in answers] == [200, 200, 404, 422, 200, 401, 404, 404]
    assert '"GET /v1/status?token=*** HTTP/1.1" 200' in log, log  # the access log redacts it
    assert TOKEN not in log, log
    for _, text in answers:
        assert TOKEN not in text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_token(host):
    from energy_core.serve.settings import check_exposure, is_loopback

    assert is_loopback(host)
    check_exposure(host, None)
