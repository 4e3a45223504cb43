"""The ``run-experiment`` command line (thin: parsing and printing only)."""

from __future__ import annotations

import typer

from approx import methods, targets

app = typer.Typer(add_completion=False, help="Function-approximation experiments.")


@app.command("list")
def list_all() -> None:
    """List the built-in targets and the method kinds with their parameters."""
    for name in targets.names():
        t = targets.get(name)
        typer.echo(f"target {name}: {t.description} on [{t.domain[0]:g}, {t.domain[1]:g}]")
    for kind, m in methods.METHODS.items():
        params = ", ".join(f"{p.name}={p.default!r}" for p in m.params)
        typer.echo(f"method {kind}({params}): {m.description}")


def main() -> None:
    """Entry point of the ``run-experiment`` script."""
    app()
