"""HTTP: Starlette routes. The only layer that imports Starlette."""
