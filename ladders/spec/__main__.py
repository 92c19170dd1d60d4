"""`python -m ladders.spec`: print every spec key as the README's Markdown table."""

from ladders.spec.docs import schema_markdown

print(schema_markdown())
