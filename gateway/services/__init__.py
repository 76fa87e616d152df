"""Services: the operations. Each starts with the scope and tenant check, then validates,
then calls storage, translating storage errors into `gateway.errors` once.

Services take what they need as arguments (database, principal, clock values); they know
nothing of HTTP or GraphQL types.
"""
