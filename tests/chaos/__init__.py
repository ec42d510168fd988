"""The chaos suite (issue 7): a mixed campaign under platform faults, worker SIGKILLs and a Redis restart.

``driver`` runs it (``python -m tests.chaos.driver``), ``world`` builds the shops, orders and faults,
``report`` counts what happened from the ledger and from the sandbox's own counters.
"""
