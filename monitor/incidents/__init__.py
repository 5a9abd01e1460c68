"""Incidents: mentions of one story grouped, tiered as they grow, with a lifecycle.

``engine.IncidentEngine`` is the entry point: ``on_mentions(batch)`` attaches
stored mentions to incidents (opening new ones), re-computes tiers and
reports :class:`model.IncidentChange` objects to its listeners (alerting,
plans).  State changes (ack / mitigate / resolve / retier) go through the
same engine so listeners hear about them too.
"""
