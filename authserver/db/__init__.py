"""Storage: SQLAlchemy models, the engine, and migrations. Nothing above this layer names a driver."""
