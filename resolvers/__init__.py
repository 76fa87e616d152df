"""Resolvers: read `info.context`, call one service function, build the GraphQL type.

Each module also declares its slice of the root types (`*Query`, `*Mutation`);
`gateway/schema.py` merges the slices. No SQL, scope checks or HTTP here.
"""
