"""Delivery: signed webhooks and Celery replies, fed from the event outbox (``cancelq.jobs.events``).

``dispatch`` reads the stream as one consumer group for the fleet and queues one delivery per matching endpoint
(``queue``, durable in Redis) and sends each job's Celery reply; ``sender`` claims due deliveries and POSTs them
signed (``signing``) to the endpoints of ``endpoints``; ``service`` starts both in a worker.
"""
