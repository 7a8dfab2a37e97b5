"""RabbitMQ plumbing: topology, connections, request/reply, events and the outbox relay."""
