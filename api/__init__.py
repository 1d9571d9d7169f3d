"""The GraphQL HTTP API (strawberry on starlette). An entry point: nothing imports it."""
