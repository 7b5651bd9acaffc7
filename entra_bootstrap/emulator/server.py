"""Start-up of the emulator: a local CA, a TLS certificate for 127.0.0.1, the env files, serving.

NOTE: TLS is handled per connection by asyncio (no handshake in the accept loop) and asyncio sets
TCP_NODELAY on every connection (Python docs: asyncio "Event Loop", ``loop.create_server`` —
"TCP_NODELAY is set by default for all TCP connections" since 3.7), so a request costs well under
10 ms on loopback; with Nagle's algorithm or a blocking handshake it costs ~40 ms, or one idle
client blocks the others.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import ipaddress
import json
import shlex
import signal
import socket
import ssl
import sys
from pathlib import Path

from aiohttp import web

from .app import make_app
from .seed import seed_world
from .state import REQUIRED_STATE_KEYS, Faults, World


def _make_ca_and_cert(data_dir: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA (written to ca.pem) and a leaf for 127.0.0.1 / localhost / ::1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "entra-bootstrap emulator CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
            x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = data_dir / "ca.pem", data_dir / "server.pem", data_dir / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


class DataDirInUse(Exception):
    """Another emulator runs on this --data-dir: its CA and certificate must not be replaced."""


def _lock_data_dir(data_dir: Path):
    """Hold ``DATA_DIR/.lock`` (an exclusive flock) for the emulator's lifetime, before anything in
    the directory is written; a second emulator on it fails here and touches nothing."""
    import fcntl
    import os

    handle = open(data_dir / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        pid = handle.read().strip()
        handle.close()
        raise DataDirInUse(f"another emulator{f' (pid {pid})' if pid else ''} is running on --data-dir "
                           f"{data_dir}; stop it, or give this one another --data-dir") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class StateFileError(Exception):
    """A --state file that cannot be used; the message names the file, the problem and the fix."""


def load_state(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise StateFileError(f"cannot read the state file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise StateFileError(f"the state file {path} is not valid JSON (line {exc.lineno}: "
                             f"{exc.msg}); fix it, or remove it to start from the seeded world") from None
    missing = [k for k in REQUIRED_STATE_KEYS if not isinstance(data, dict) or k not in data]
    if missing:
        raise StateFileError(f"the state file {path} is not an emulator state (missing "
                             f"{', '.join(missing)}); point --state at a file the emulator wrote, "
                             "or at a new path")
    return data


def client_env(world: World, ca_path: Path) -> dict[str, str]:
    """Everything a client needs, as written to env.sh / env.json."""
    from .seed import DEFAULT_CALLER, OPERATOR, READER

    d = world.data
    return {
        "AZURE_TENANT_ID": world.tenant_id,
        "AZURE_SUBSCRIPTION_ID": world.subscription_id,
        "AZURE_CLIENT_ID": d["seed"][OPERATOR]["appId"],
        "AZURE_CLIENT_SECRET": d["secrets"][d["seed"][OPERATOR]["appId"]],
        "AZURE_AUTHORITY_HOST": world.authority,
        "REQUESTS_CA_BUNDLE": str(ca_path),
        "SSL_CERT_FILE": str(ca_path),
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"{world.base_url}/imds{d['seed'][DEFAULT_CALLER]}",
        "ENTRA_BOOTSTRAP_CLOUD": "custom",
        "ENTRA_BOOTSTRAP_GRAPH_ENDPOINT": world.graph_url,
        "ENTRA_BOOTSTRAP_ARM_ENDPOINT": world.arm_url,
        "EMULATOR_READER_CLIENT_ID": d["seed"][READER]["appId"],
        "EMULATOR_READER_CLIENT_SECRET": d["secrets"][d["seed"][READER]["appId"]],
        "EMULATOR_URL": world.base_url,
    }


def _write_env(data_dir: Path, env: dict[str, str]) -> None:
    (data_dir / "env.json").write_text(json.dumps(env, indent=2) + "\n")
    lines = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    (data_dir / "env.sh").write_text("\n".join(lines) + "\n")
    for name in ("env.json", "env.sh"):
        (data_dir / name).chmod(0o600)   # they hold the seeded client secrets


async def serve(port: int, data_dir: Path, state_file: Path | None, faults: Faults,
                ready=None, stop: asyncio.Event | None = None) -> None:
    data_dir = data_dir.resolve()          # env.sh names absolute paths: it works after a cd
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(data_dir)
    try:
        await _serve(port, data_dir, state_file, faults, ready, stop)
    finally:
        lock.close()


async def _serve(port: int, data_dir: Path, state_file: Path | None, faults: Faults,
                 ready, stop: asyncio.Event | None) -> None:
    ca_path, cert_path, key_path = _make_ca_and_cert(data_dir)
    ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ssl_ctx.load_cert_chain(cert_path, key_path)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    base_url = f"https://127.0.0.1:{port}"

    seeded = seed_world(base_url)
    world = World(data=copy.deepcopy(seeded), base_url=base_url, faults=faults,
                  state_file=state_file)
    if state_file is not None and state_file.exists():
        world.data = load_state(state_file)
        # The seeded principals keep the secrets of the first start, so env files, scripts and
        # `POST /_emulator/reset` agree across restarts.
        for principal in (seeded["seed"]["operator"], seeded["seed"]["reader"]):
            kept = world.data.get("secrets", {}).get(principal["appId"])
            if kept:
                seeded["secrets"][principal["appId"]] = kept
    try:
        world.save()   # fail now, not at the first write, if the state file cannot be written
    except OSError as exc:
        raise StateFileError(f"cannot write the state file {state_file}: {exc.strerror or exc}; "
                             "use a path in a writable directory") from None
    app = make_app(world, seeded)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=ssl_ctx)
    await site.start()
    _write_env(data_dir, client_env(world, ca_path))
    if ready is not None:
        ready(base_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):   # not the main thread (demo)
            pass
    try:
        await stop.wait()
    finally:
        # What is applied is on disk before anything else happens; a write still in flight during
        # the graceful shutdown is saved after it.
        world.save()
        try:
            await runner.cleanup()
        finally:
            if world.dirty:
                world.save()


def run(port: int, data_dir: Path, state_file: Path | None = None, faults: Faults | None = None) -> None:
    def ready(url: str) -> None:
        print(f"ready {url}", flush=True)

    try:
        asyncio.run(serve(port, data_dir, state_file, faults or Faults(), ready=ready))
    except (StateFileError, DataDirInUse) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"error: cannot start the emulator on 127.0.0.1:{port}: {exc.strerror or exc}. "
              "Pick another --port (0 picks a free one).", file=sys.stderr)
        raise SystemExit(2) from None
    sys.stdout.flush()
