"""PostgreSQL URL forms, without the settings machinery: show actors connect with these, and importing
``settings`` (pydantic-settings and its sources) would cost every actor process memory it never uses."""


def sqlalchemy_url(url: str) -> str:
    """Normalise a PostgreSQL URL to the psycopg 3 driver SQLAlchemy should use."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]}")


def libpq_url(url: str) -> str:
    """The same URL in the plain form psycopg's own connect() takes."""
    return "postgresql://" + sqlalchemy_url(url)[len("postgresql+psycopg://") :]
