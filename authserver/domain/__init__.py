"""Domain services: users, clients, passwords, audit. No web framework is imported here."""
