"""Authentication and authorization: scopes, key material, principals, and the decisions.

Contract: a principal is resolved once per request (`gateway.auth.authenticate`) before GraphQL
or REST handling; services then call `require_scope(...)` before anything else.
"""
