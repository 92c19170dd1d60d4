"""`python -m ladders.spec`: print every spec key as the Markdown table of docs/ladders.md."""

from ladders.spec.docs import schema_markdown

print(schema_markdown())
