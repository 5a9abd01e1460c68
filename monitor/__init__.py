"""Sources, pollers, mentions, incidents and alerting."""
