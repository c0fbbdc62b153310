"""The OAuth 2.0 protocol layer: Authlib's grants and endpoints with thin subclasses.

Nothing here imports Starlette. Authlib's code is synchronous; it runs inside SQLAlchemy's greenlet
bridge (`sqlalchemy.util.greenlet_spawn`), and our hooks reach the async database and the argon2
worker threads through `await_only` (architecture §1): no thread per request, no second engine.
"""
