"""The platforms' own pushes: kept as they arrive (``store``), then acted on by the worker fleet.

A push is a hint, never a fact: the receiver (``cancelq.api``) verifies its signature and appends a
``PushNotice`` to ``keys.PUSHES``; a worker reads the order through the platform's API before it ends a job or
announces anything.
"""
