"""The browser half of sign-in: server-rendered pages over the authorization endpoint (architecture §6).

One module per page flow. Every page is plain HTML from `templates/` (Jinja2, autoescape on) with
one stylesheet and no JavaScript; every form carries a CSRF token bound to the browser session.
"""
