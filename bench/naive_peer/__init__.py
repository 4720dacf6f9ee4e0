"""The naive peer: the same flow as the platform, wired the way most nameko systems are.

Same domain code, documents and indexes as the four services, but:

- writes go straight to the database, one by one (no multi-document transaction);
- events are published with nameko's stock ``EventDispatcher`` after the writes (no outbox,
  no relay): a crash between the two loses the event;
- consumers are nameko's stock ``@event_handler`` (acked even when the handler raised, no
  retry, no dead-letter queue, no schema validation on arrival);
- no idempotency record: a redelivered event is applied again where the domain code does not
  itself notice the duplicate;
- notification sends the email inside the event handler instead of through a claimed
  delivery queue.

It exists only as the baseline of bench/pipeline.py: what a user would get without the
platform's guarantees, and so what those guarantees cost.
"""
