"""Response scripts (话术): lifecycle with four-eyes approval, and the agents' ticker hub."""
