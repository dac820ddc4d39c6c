"""The WebSocket backend of scripts/websocket.sh (PyPI `websockets`).

Paths: /echo echoes every message (text as text, binary as binary); /headers sends the
handshake's request headers as one JSON text message, then echoes; /close answers the first
message by closing with code 4001 and reason "done"; /refuse refuses the upgrade with 403.
A plain GET (no upgrade) on any path is answered 200 "plain http\\n", as an HTTP backend.
Usage: backend.py PORT
"""

import asyncio
import json
import sys
from http import HTTPStatus

from websockets.asyncio.server import serve


def process_request(connection, request):
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    if not upgrade:
        return connection.respond(HTTPStatus.OK, "plain http\n")
    if request.path.startswith("/refuse"):
        return connection.respond(HTTPStatus.FORBIDDEN, "refused by the backend\n")
    return None


def select_subprotocol(connection, subprotocols):
    return "chat" if "chat" in subprotocols else None


async def handler(ws):
    path = ws.request.path
    if path.startswith("/headers"):
        headers = {k.lower(): v for k, v in ws.request.headers.raw_items()}
        headers[":path"] = path
        await ws.send(json.dumps(headers))
    if path.startswith("/close"):
        await ws.recv()
        await ws.close(4001, "done")
        return
    async for message in ws:
        await ws.send(message)


async def main(port):
    async with serve(
        handler,
        "127.0.0.1",
        port,
        process_request=process_request,
        select_subprotocol=select_subprotocol,
        max_size=None,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
