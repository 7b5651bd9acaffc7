"""(being written) — see app.py for the contract."""


def add_routes(app, *args) -> None:
    pass
