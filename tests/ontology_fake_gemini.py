"""A fake Gemini API on 127.0.0.1 for the real ``google-genai`` client.

It answers ``POST /{version}/models/{model}:generateContent`` for the ontology's two
prompts (descriptions and pair verdicts, told apart by the response schema's title).
A script of faults is served first, one per request: ``"429"``, ``"500"``,
``"malformed"`` (a reply that does not parse into the schema), ``"partial"`` (a reply
that leaves out the last item), ``"slow"`` (answers after ``slow_s`` seconds); then
every request is answered correctly. ``always`` replaces the script's end: e.g.
``always="malformed"`` never answers properly.

Verdicts are deterministic: two parts are "the same" when their last words agree
(``stretcher`` / ``bar stretcher``), and the longer name is canonical.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ITEM = re.compile(r"^(\d+)\. (.*)$", re.MULTILINE)
_PAIR = re.compile(r'A "([^"]+)".*\| B "([^"]+)"')


class FakeGemini:
    """Run as a context manager; ``url`` is the base URL to give the client."""

    def __init__(self, faults: Sequence[str] = (), always: str = "ok", slow_s: float = 2.0):
        self.faults = list(faults)
        self.always = always
        self.slow_s = slow_s
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    fault = fake.faults.pop(0) if fake.faults else fake.always
                fake._answer(self, body, fault)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FakeGemini:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], fault: str) -> None:
        if fault in ("429", "500"):
            status = "RESOURCE_EXHAUSTED" if fault == "429" else "INTERNAL"
            error = {"error": {"code": int(fault), "message": "fake fault", "status": status}}
            return _send(handler, int(fault), error)
        if fault == "slow":
            time.sleep(self.slow_s)
        prompt = body["contents"][0]["parts"][0]["text"]
        items = _ITEM.findall(prompt)
        if fault == "partial":
            items = items[:-1]
        schema = body["generationConfig"]["responseSchema"]["title"]
        reply = _verdicts(items) if schema == "_PairVerdicts" else _descriptions(items)
        text = "{not json" if fault == "malformed" else json.dumps(reply)
        content = {"role": "model", "parts": [{"text": text}]}
        _send(handler, 200, {"candidates": [{"content": content, "finishReason": "STOP"}]})


def _descriptions(items: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "descriptions": [
            {"id": int(number), "description": f"fake description of {text}"}
            for number, text in items
        ]
    }


def _verdicts(items: list[tuple[str, str]]) -> dict[str, Any]:
    verdicts = []
    for number, text in items:
        a, b = _PAIR.search(text).groups()
        same = a.split()[-1] == b.split()[-1]
        verdicts.append(
            {
                "id": int(number),
                "same": same,
                "canonical": max((a, b), key=len),
                "rationale": "same head word" if same else "different head words",
            }
        )
    return {"verdicts": verdicts}


def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
        handler.wfile.write(data)
