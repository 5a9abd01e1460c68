"""Who is asking: users, sessions and tokens, role checks, CSRF, login limits, revocation, shifts."""
