"""The JSON API: one module per resource (routes are listed in web.api.routes once the table exists)."""
