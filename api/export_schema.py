"""Print the live schema's SDL: ``python -m api.export_schema > schema.graphql``."""

from api.schema import schema

if __name__ == "__main__":
    print(schema.as_str())
