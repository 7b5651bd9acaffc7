"""`entra-bootstrap emulator`: run the local Entra ID / Graph / ARM emulator in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def emulator_command(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 8443,
    data_dir: Annotated[Path, typer.Option(help="Where ca.pem, env.sh and env.json are written.")] = Path(".emulator"),
    state: Annotated[Optional[Path], typer.Option(help="JSON file the state persists to.")] = None,
    latency_ms: Annotated[int, typer.Option(min=0, help="Delay every response by N ms.")] = 0,
    replication_lag: Annotated[int, typer.Option(min=0, help="New Graph objects stay invisible to the next N reads.")] = 0,
    fault_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of API requests answered 429 or 503.")] = 0.0,
    fault_seed: Annotated[Optional[int], typer.Option(help="Seed of the fault choice.")] = None,
    token_lifetime: Annotated[Optional[int], typer.Option(
        "--token-lifetime", metavar="SECONDS", min=1,
        help="Lifetime of every issued token (managed identity and app tokens); default: ~24 h and ~1 h "
             "as Azure's.")] = None,
) -> None:
    """Run the emulator until SIGINT or SIGTERM; prints `ready https://127.0.0.1:PORT` when ready."""
    from entra_bootstrap.emulator.server import run
    from entra_bootstrap.emulator.state import Faults

    faults = Faults(latency_ms=latency_ms, replication_lag=replication_lag, fault_rate=fault_rate,
                    fault_seed=fault_seed, token_lifetime_s=token_lifetime)
    run(port, data_dir, state, faults)
