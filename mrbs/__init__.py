"""The `mrbs` command: the thin top layer over the stages (`mrbs.cli`)."""

__all__: list[str] = []
