"""The alert path as small stages (Alertmanager's ``notify.go``), one file each.

route (``routing``) -> group / dedupe against the notification log (``nflog``)
-> silences and maintenance windows (``silences``) -> quiet hours and digests
(``quiet``) -> persisted outbox (``outbox``) -> send with per-robot budgets and
retries (``sender``).  ``engine.AlertEngine`` runs them on an injected clock;
escalation and reminders live in ``escalation``; acknowledge links in ``acklinks``;
who an alert reaches (people, contacts, on-call for health alerts) in ``recipients``;
source-health alerts in ``health``; the engine's settings in ``config``.
"""
