"""A fake Gemini API on 127.0.0.1 for the real ``google-genai`` client.

It answers ``POST /{version}/models/{model}:generateContent`` for the ontology's two
prompts (descriptions and pair verdicts) and the curate pipeline's asset judgements, told
apart by the response schema's title. A request's text is its text parts joined by
newlines; an inline image part belongs to the numbered item whose line precedes it, and
``images`` lists per request the items that had one, with the decoded bytes.
A script of faults is served first, one per request: ``"429"``, ``"500"``,
``"malformed"`` (a reply that does not parse into the schema), ``"partial"`` (a reply
that leaves out the last item), ``"slow"`` (answers after ``slow_s`` seconds); then
every request is answered correctly. ``always`` replaces the script's end: e.g.
``always="malformed"`` never answers properly.

Verdicts are deterministic: two parts are "the same" when their last words agree
(``stretcher`` / ``bar stretcher``), and the longer name is canonical. Judgements too: an
asset is kept when it has an image and its line does not say ``scan``; its category
guess is the first word of the instructions' ``Categories:`` line found in its line
(else ``none``); its quality is 1 + the image's byte length mod 5.
"""

from __future__ import annotations

import base64
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
        self.images: list[dict[int, bytes]] = []
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
        prompt, images = _read_parts(body["contents"][0]["parts"])
        with self._lock:
            self.images.append(images)
        items = _ITEM.findall(prompt)
        if fault == "partial":
            items = items[:-1]
        schema = body["generationConfig"]["responseSchema"]["title"]
        if schema == "_PairVerdicts":
            reply = _verdicts(items)
        elif schema == "_AssetJudgements":
            reply = _judgements(items, images, prompt)
        else:
            reply = _descriptions(items)
        text = "{not json" if fault == "malformed" else json.dumps(reply)
        content = {"role": "model", "parts": [{"text": text}]}
        _send(handler, 200, {"candidates": [{"content": content, "finishReason": "STOP"}]})


def _read_parts(parts: list[dict[str, Any]]) -> tuple[str, dict[int, bytes]]:
    """The request's text, and item number -> its inline image's bytes."""
    texts: list[str] = []
    images: dict[int, bytes] = {}
    for part in parts:
        if "text" in part:
            texts.append(part["text"])
        elif "inlineData" in part:
            numbered = _ITEM.findall(texts[-1]) if texts else []
            assert numbered, "an image part before any numbered item"
            data = part["inlineData"]["data"]  # the client sends URL-safe base64
            images[int(numbered[-1][0])] = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return "\n".join(texts), images


def _judgements(
    items: list[tuple[str, str]], images: dict[int, bytes], prompt: str
) -> dict[str, Any]:
    listed = re.search(r"^Categories: (.*)$", prompt, re.MULTILINE)
    categories = listed.group(1).split(", ") if listed else []
    judgements = []
    for number, text in items:
        image = images.get(int(number))
        keep = image is not None and "scan" not in text.lower()
        words = set(re.findall(r"[a-z]+", text.lower()))
        guess = next((c for c in categories if c in words), "none")
        judgements.append(
            {
                "id": int(number),
                "keep": keep,
                "single_object": True,
                "category": guess,
                "quality": 1 + len(image) % 5 if image else 1,
                "reason": "fake: looks fine" if keep else "fake: no thumbnail or a scan",
            }
        )
    return {"judgements": judgements}


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
