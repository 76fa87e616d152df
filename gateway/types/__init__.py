"""GraphQL types. Not storage models: each is built from a row or a definition with a
`from_*` classmethod."""
