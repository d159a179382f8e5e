"""A canary key driven through every failing path must appear nowhere: not under <home>, not in
logs, not in error text, not in the run reports or the command's output."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus

from energy_core.ingest.retry import RetryPolicy
from energy_core.ingest.runner import RunConfig, run
from energy_core.plugin.simulator import Throttle
from energy_core.storage.lake import Lake
from energy_eia.simulator import EiaSimulator, Faults

JAN = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))


def leaks(canary: str, text: str | bytes) -> list[str]:
    forms = {canary, quote(canary, safe=""), quote_plus(canary)}
    data = text.encode() if isinstance(text, str) else text
    return [form for form in forms if form.encode() in data]


def test_canary_key_never_leaks(tmp_path, caplog):
    canary = f"CANARY-{uuid.uuid4().hex}+/="  # characters that URL-encode differently
    home = tmp_path / "home"
    log_file = tmp_path / "debug.log"
    file_handler = logging.FileHandler(log_file)
    logging.getLogger().addHandler(file_handler)
    faults, throttle = Faults(error_every=4, truncate_every=5), Throttle(throttle_every=3, retry_after="0")
    texts: list[str] = []
    try:
        with caplog.at_level(logging.DEBUG), EiaSimulator(api_key=canary, faults=faults, throttle=throttle,
                                                          respondents=("PACW",)) as flaky, \
                EiaSimulator(respondents=("PACW",)) as other_key:
            targets = {
                "flaky": f"{flaky.url}/v2",  # 429, 5xx and truncated bodies, then success or give-up
                "wrong key": f"{other_key.url}/v2",  # 403 API_KEY_INVALID
                "unknown route": f"{flaky.url}/v9",  # 500 "Not found."
                "refused": "http://127.0.0.1:9/v2",  # connection refused
            }
            for url in targets.values():
                config = RunConfig(sources=("eia",), start=JAN[0], end=JAN[1], home=home, regions=("PACW",),
                                   env={"EIA_API_KEY": canary, "ENERGY_EIA_URL": url},
                                   retry=RetryPolicy(max_attempts=3, backoff_base=0.01))
                report = run(config)
                texts += [json.dumps(report.to_json(), default=str)] + [w.error or "" for w in report.windows]
            assert flaky.requests and all(r.first("api_key") == canary for r in flaky.requests)
            cli = subprocess.run(
                [sys.executable, "-m", "energy_core", "--debug", "run", "--source", "eia", "--region", "PACW",
                 "--start", "2024-01-01", "--end", "2024-01-31", "--home", str(home)],
                env={**os.environ, "EIA_API_KEY": canary, "ENERGY_EIA_URL": targets["wrong key"]},
                capture_output=True, text=True, timeout=120)
    finally:
        logging.getLogger().removeHandler(file_handler)
        file_handler.close()
    assert cli.returncode == 1 and "EIA rejected the API key" in cli.stderr
    assert any("gave up" in t or "rejected" in t for t in texts)
    assert (home / "raw" / "responses.sqlite").exists() and Lake(home).scan().collect().height > 0
    found = {f"file {p.relative_to(home)}": leaks(canary, p.read_bytes()) for p in home.rglob("*") if p.is_file()}
    found |= {"caplog": leaks(canary, caplog.text), "log file": leaks(canary, log_file.read_bytes()),
              "cli stdout": leaks(canary, cli.stdout), "cli stderr": leaks(canary, cli.stderr),
              "reports and errors": leaks(canary, "\n".join(texts))}
    assert {where: forms for where, forms in found.items() if forms} == {}
