"""The chaos suite (issue 7): a mixed campaign under platform faults and trickled answers, worker SIGKILLs,
workers paused past their lease and a Redis restart.

``driver`` runs it (``python -m tests.chaos.driver``; its knobs in ``config``), ``world`` builds the shops, orders
and faults, ``pauses`` stops and thaws workers, ``watch`` watches the final outcomes while it runs and reads the
workers' logs, ``report`` counts what happened from the ledger and from the sandbox's own counters
(``attribution``: whose cancel each cancelled outcome was).
"""
