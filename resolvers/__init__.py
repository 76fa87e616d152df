"""Resolvers: read `info.context`, call one service function, build the GraphQL type.

Each module also declares its slice of the root types (`*Query`, `*Mutation`);
`gateway/schema.py` merges the slices. No SQL, scope checks or HTTP here.

REST routes call these same functions (gateway/rest/base.py). A field resolver is
`resolve_<field>(info, <its GraphQL arguments>)`. Where a REST body is a document the service
checks in its own terms (an alert, a webhook, a view), or carries unknown-field errors the
service reports after its scope check, the field resolver turns its input into that typed
form and calls `<operation>(info, draft)` (e.g. `create_alert`), which the REST route calls
too: one function per operation for both surfaces, never a REST-only variant.
"""
