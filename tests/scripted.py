"""A scripted HTTP server on 127.0.0.1: each path answers a list of responses in order."""

from __future__ import annotations

from energy_core.plugin.simulator import SimRequest, SimResponse, Simulator


class ScriptedServer(Simulator):
    def __init__(self) -> None:
        super().__init__()
        self.script: dict[str, list[SimResponse]] = {}

    def on(self, path: str, *responses: SimResponse) -> ScriptedServer:
        self.script[path] = list(responses)
        return self

    def handle(self, request: SimRequest) -> SimResponse:
        queue = self.script.get(request.path)
        if not queue:
            return SimResponse(404, b"no script for this path")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def env(self) -> dict[str, str]:
        return {}

    def hits(self, path: str) -> int:
        return sum(r.path == path for r in self.requests)
