"""What an admin may edit, declared once per resource; everything else is derived.

A resource (a mail source, an outbound connection, ...) is a tuple of `Setting`s
(`connector.resources.declare`): the name as the API spells it, its JSON type, whether it may be
null or is required, its bounds and choices, whether it is write-only or kept in a table column
of its own, and what the OpenAPI document says about it. From that one declaration come the
admin API's type checks and their messages, the names the JSON answer is written from, the
table columns the repository copies, and the `components.schemas` properties of the OpenAPI
document (built with the one set of helpers in `connector.resources.schema`).

Declared here: `mail_source` (settings and state, and the routing settings the route check
also takes), `source_policy`, `address_rule`, `outbound_connection`, `notification_settings`
and `tenant_settings` (custom-field roles, the workaround user). What is still written beside
a declaration (the SQLModel tables, the typed values' fields, the pages' lists and bounds) is
held to it by `tests/unit/test_resources.py`, so drift fails a test rather than a customer.

Why a declaration of our own rather than pydantic models: the API's error messages
(`"port: must be a whole number"`), its status codes and its OpenAPI 3.0 document (`nullable`,
not JSON Schema's `anyOf` with null) are a contract clients and tests rely on, and reproducing
them through pydantic's error and schema customisation would be more code than the declaration
itself. The rules between settings (what POP3 can do, folders that must differ) stay in the
typed values that enforce them (`SourceConfig`, `SourceSpec`), which name the field at fault.

Pure: no IO, nothing of ours that does IO (the seam test holds it to that), so the engine's
value types can take their choices (`ProtocolName`, ...) from here.
"""
