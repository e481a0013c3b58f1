"""ModelRoute: keep stateless OpenAI API traffic on approved Azure endpoints."""

__version__ = "0.1.0"
