"""One module per grant type, each a thin subclass of Authlib's."""
