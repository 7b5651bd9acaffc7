"""Microsoft Graph v1.0, emulated: ``routes`` (the route table), one handler module per resource,
``models`` (directory rules on the state), ``context`` (request and response shapes), ``query``
(OData options), ``permissions``, ``errors``. Kept thin: it imports nothing.
"""
