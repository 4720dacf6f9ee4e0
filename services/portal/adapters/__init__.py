"""What the portal talks to: the four services' APIs (clients), the OpenID provider (oidc),
the browser (web: the page entrypoint with security headers, pages: Jinja rendering) and
calendars (calendar: iCalendar files)."""
