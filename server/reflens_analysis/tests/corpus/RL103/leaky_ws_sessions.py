"""WebSocket gateway: tracks connected clients so broadcasts can reach them."""

import json
import logging
import time

log = logging.getLogger(__name__)

_CONNECTIONS = []
_BY_USER = {}


class ClientSession:
    """One per accepted WebSocket; dropped by the server when the socket closes."""

    def __init__(self, websocket, user_id):
        self.websocket = websocket
        self.user_id = user_id
        self.connected_at = time.monotonic()
        self.outbox = []
        self.history = bytearray()
        _CONNECTIONS.append(self)  # expect: RL103
        _BY_USER[user_id] = self  # expect: RL103

    async def send(self, event, payload):
        message = json.dumps({"event": event, "data": payload})
        self.history.extend(message.encode())
        await self.websocket.send(message)


async def broadcast(event, payload):
    for session in list(_CONNECTIONS):
        try:
            await session.send(event, payload)
        except ConnectionError:
            log.info("client %s went away", session.user_id)


async def notify_user(user_id, event, payload):
    session = _BY_USER.get(user_id)
    if session is not None:
        await session.send(event, payload)


def connected_count():
    return len(_CONNECTIONS)


async def handler(websocket, path):
    user_id = path.rsplit("/", 1)[-1]
    session = ClientSession(websocket, user_id)
    async for raw in websocket:
        await broadcast("chat", {"from": session.user_id, "text": raw})
