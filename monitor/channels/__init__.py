"""Alert channels, one module each, one interface (:class:`base.Channel`).

Adding a channel kind = one module with a ``Channel`` subclass + one line in
``registry.KINDS``.  A channel only moves one message; it says whether a
failure is worth retrying by raising :class:`errors.DeliveryError` with
``retryable`` set (Alertmanager's ``Notifier.Notify`` returns the same pair).
"""
