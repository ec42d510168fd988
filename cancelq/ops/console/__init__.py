"""The operators' console inside Flower: dead letters, campaigns, shops, jobs and the audit, at ``/cancelq/...``.

Served by ``cancelq flower`` in Flower's own Tornado application (same process, port and authentication):
``install.install`` adds the handlers and a template loader that puts the console's tabs in Flower's navbar and a
dead letter's link and Replay button on Flower's task page. Pages are server-rendered and extend Flower's
look; actions are plain HTML forms (POST, with Tornado's xsrf token), taken only by the operators named in
``console_operators`` and never with ``--read-only``; each is written to the audit stream (``ops/audit.py``).
The pages read cancelq's stores, not Flower's event memory, so they show what happened while Flower was down.
"""
