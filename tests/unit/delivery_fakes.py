"""In-memory stand-ins for the delivery service's stores, its broker attempts, receivers and
resolver, with the semantics of the MongoDB and RabbitMQ adapters."""

import dataclasses
from collections import deque

from services.delivery.domain.model import BLOCKED, PENDING, UNFINISHED, Response
from shared.store.creation import AlreadyCreated


class FakeEndpoints:
    def __init__(self):
        self.stored: dict = {}
        self.creations: dict = {}
        self.outbox: list = []

    async def add(self, endpoint, creation):
        if (endpoint.workspace, creation.command_id) in self.creations:
            raise AlreadyCreated(self.creations[(endpoint.workspace, creation.command_id)])
        self.creations[(endpoint.workspace, creation.command_id)] = creation
        self.stored[endpoint.id] = endpoint

    async def find_creation(self, workspace, command_id):
        return self.creations.get((workspace, command_id))

    async def get(self, workspace, endpoint_id):
        endpoint = self.stored.get(endpoint_id)
        return dataclasses.replace(endpoint) if endpoint and endpoint.workspace == workspace else None

    async def subscribed(self, workspace, event_type):
        return [dataclasses.replace(e) for e in self.stored.values()
                if e.workspace == workspace and e.enabled and event_type in e.event_types]

    async def mark_healthy(self, endpoint):
        self.stored[endpoint.id].failing_since = None

    async def mark_failing(self, endpoint, now):
        stored = self.stored[endpoint.id]
        stored.failing_since = stored.failing_since or now
        return stored.failing_since

    async def disable(self, endpoint, reason, now, event):
        stored = self.stored[endpoint.id]
        if not stored.enabled:
            return False
        stored.enabled, stored.disabled_at, stored.disabled_reason = False, now, reason
        self.outbox.append(event)
        return True


class FakeDeliveries:
    def __init__(self):
        self.stored: dict = {}
        self.due_by: dict = {}

    def _copy(self, delivery):
        return dataclasses.replace(delivery, attempts=list(delivery.attempts))

    async def add(self, delivery):
        self.stored.setdefault(delivery.id, delivery)
        return self._copy(self.stored[delivery.id])

    async def get(self, workspace, delivery_id):
        delivery = self.stored.get(delivery_id)
        return self._copy(delivery) if delivery and delivery.workspace == workspace else None

    async def unfinished_before(self, delivery):
        return any(d.endpoint_id == delivery.endpoint_id and d.lane == delivery.lane and d.status in UNFINISHED
                   and (d.order_key, d.id) < (delivery.order_key, delivery.id) for d in self.stored.values())

    async def first_unfinished(self, endpoint_id, lane):
        waiting = sorted((d.order_key, d.id) for d in self.stored.values()
                         if d.endpoint_id == endpoint_id and d.lane == lane and d.status in UNFINISHED)
        return self._copy(self.stored[waiting[0][1]]) if waiting else None

    async def release(self, delivery, due_by, now):
        stored = self.stored[delivery.id]
        if stored.status != BLOCKED:
            return False
        stored.status, stored.next_attempt_at = PENDING, now
        self.due_by[delivery.id] = due_by
        return True

    async def record(self, delivery, attempt, status, next_attempt_at, due_by):
        stored = self.stored[delivery.id]
        if stored.status != PENDING or len(stored.attempts) != attempt.number - 1:
            return False
        stored.attempts.append(attempt)
        stored.status, stored.next_attempt_at = status, next_attempt_at
        self.due_by[delivery.id] = due_by
        return True

    async def overdue(self, now, limit):
        return [self._copy(d) for d in self.stored.values()
                if d.status == PENDING and self.due_by.get(d.id) and self.due_by[d.id] < now][:limit]

    async def postpone(self, delivery, due_by):
        self.due_by[delivery.id] = due_by
        return True

    async def blocked_since(self, before, limit):
        return [self._copy(d) for d in self.stored.values() if d.status == BLOCKED and d.created_at < before][:limit]


class FakeAttempts:
    def __init__(self):
        self.now_sent: list = []
        self.later_sent: list = []

    async def now(self, due, ctx):
        self.now_sent.append(due)

    async def later(self, due, ctx, level, seconds):
        self.later_sent.append((due, level, seconds))

    def take(self) -> list:
        sent, self.now_sent = self.now_sent, []
        return sent


class FakeReceivers:
    def __init__(self):
        self.script: deque = deque()
        self.calls: list = []

    async def post(self, url, headers, body):
        self.calls.append((url, headers, body))
        return self.script.popleft() if self.script else Response(204, 1.0)


class FakeResolver:
    def __init__(self, addresses=None):
        self.addresses_by_host = addresses or {}

    async def addresses(self, host, port):
        if host not in self.addresses_by_host:
            raise OSError(-2, "Name or service not known")
        return self.addresses_by_host[host]
