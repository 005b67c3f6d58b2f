"""Real services for the tests: start them, wait for them with a bound, stop them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

ROOT = Path(__file__).resolve().parent.parent
FERRETDB_BINARY = ROOT / ".cache" / "bin" / "ferretdb"
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip locally with a one-line reason; under CI=true nothing may skip, so fail."""
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition`` until it holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(interval)


def raw_exchange(port: int, request: bytes, timeout: float = 30) -> tuple[int, CaseInsensitiveDict[str], bytes]:
    """Send bytes as they are (an HTTP client would refuse or mend them); return the answer's status, headers and
    body, read to the end of its Content-Length or, without one, of the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = CaseInsensitiveDict({n.strip(): v.strip() for n, _, v in (line.partition(":") for line in lines)})
            if "Content-Length" in headers and len(body) >= int(headers["Content-Length"]):
                break
    if not received:
        raise AssertionError("no answer")
    return int(status_line.split()[1]), headers, body


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Return True when something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class FerretDBServer:
    """A FerretDB process with its SQLite handler's data in ``data_dir``, or with its PostgreSQL handler on the
    database at ``postgresql_url``; it can be stopped and started again."""

    def __init__(self, data_dir: Path, port: int | None = None, postgresql_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.postgresql_url = postgresql_url
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """A URI like DocumentDB's (retryWrites=false); direct, since no replica set is announced."""
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true&retryWrites=false"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        handler = (
            ["--handler=postgresql", f"--postgresql-url={self.postgresql_url}"]
            if self.postgresql_url
            else [f"--sqlite-url=file:{self.data_dir}/"]
        )
        self.process = spawn_server(
            [str(FERRETDB_BINARY), f"--listen-addr=127.0.0.1:{self.port}", *handler], self.port, "FerretDB"
        )

    def stop(self) -> None:
        """Stop the server and wait until its port is closed."""
        stop_process(self.process, timeout=10)
        self.process = None
        wait_until(lambda: not port_open(self.port), 10, "FerretDB stop")


@contextlib.contextmanager
def threads_at_work(work: Callable[[threading.Event], None], count: int, join_seconds: float = 120) -> Iterator[None]:
    """Run ``work(stop)`` in ``count`` threads while the block runs; then set ``stop`` and wait for them."""
    stop = threading.Event()
    threads = [threading.Thread(target=work, args=(stop,)) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(join_seconds)


def spawn_server(command: list[str], port: int, what: str, host: str = "127.0.0.1") -> subprocess.Popen[bytes]:
    """Start a server process and wait until it listens on ``host:port``; fail if it exits first."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sys.stderr)
    wait_until(lambda: port_open(port, host) or process.poll() is not None, 30, f"{what} start")
    if process.poll() is not None:
        raise RuntimeError(f"{what} exited with {process.returncode}")
    return process


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Terminate a process, and kill it if it has not exited within ``timeout`` seconds."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ferretdb_available() -> str | None:
    """Return None when the FerretDB test server can run, else why not."""
    if not FERRETDB_BINARY.exists():
        return "FerretDB test server not built (needs Go; `make test` builds it with tools/ferretdb/build.sh)"
    return None


def http_ok(url: str) -> bool:
    """Return True when ``url`` answers 200."""
    import requests

    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def unix_http_ok(path: Path, target: str) -> bool:
    """Return True when an HTTP server on the unix socket ``path`` answers ``target`` with 200."""
    import http.client

    connection = http.client.HTTPConnection("localhost", timeout=2)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(2)
        sock.connect(str(path))
        connection.sock = sock
        connection.request("GET", target)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


class GunicornServer:
    """``gunicorn -c gunicorn.conf.py wsgi:process_memory_app``, as `make run` starts it, on a loopback port."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int = 4,
        cwd: Path | None = None,
        log_path: Path | None = None,
        unix_socket: Path | None = None,
        args: tuple[str, ...] = ("--access-logfile", "-"),
        host: str = "127.0.0.1",
    ) -> None:
        #: The loopback address it binds to: another one (127.0.0.2, …) stands for another app host.
        self.host = host
        self.port = free_port()
        #: Command-line options after ``-c gunicorn.conf.py``; the access log is on unless they say otherwise.
        self.args = args
        self.unix_socket = unix_socket
        self.env = env
        self.workers = workers
        self.cwd = cwd or ROOT
        self.log_path = log_path or self.cwd / "gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None
        #: The keys it requires, when a test configured some (tests/keys.py).
        self.keys: Any = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start gunicorn and wait until a worker answers."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    str(ROOT / "gunicorn.conf.py"),
                    f"--chdir={self.cwd}",
                    f"--pythonpath={ROOT}",
                    *self.args,
                    "wsgi:process_memory_app",
                ],
                cwd=self.cwd,
                env={
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "PROCESS_MEMORY_BIND": f"unix:{self.unix_socket}"
                    if self.unix_socket
                    else f"{self.host}:{self.port}",
                    "WEB_CONCURRENCY": str(self.workers),
                    "PROMETHEUS_MULTIPROC_DIR": str(self.cwd / f"metrics-{self.port}"),
                    **self.env,
                },
                stdout=log,
                stderr=log,
            )
        answers = (
            (lambda: unix_http_ok(self.unix_socket, "/healthz"))
            if self.unix_socket
            else (lambda: http_ok(f"{self.url}/api/v1/openapi.json"))
        )
        wait_until(lambda: answers() or self.process.poll() is not None, 60, "gunicorn start")
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")

    def worker_pids(self) -> list[int]:
        """The master's current worker processes."""
        return [pid for pid in self._children() if not _is_anchoring(pid)]

    def anchoring_pids(self) -> list[int]:
        """The master's anchoring processes (one while anchoring is on; process_memory/anchoring/process.py)."""
        return [pid for pid in self._children() if _is_anchoring(pid)]

    def _children(self) -> list[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def log(self) -> str:
        """Everything gunicorn and the app wrote so far."""
        return self.log_path.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        """The JSON lines of the log: gunicorn's access log and the app's request log."""
        lines = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                parsed = json.loads(line)  # every {-line must be JSON: a broken format fails here
                if "worker" in parsed:
                    parsed["pid"] = int(parsed["worker"].strip("<>"))  # gunicorn writes <pid>
                lines.append(parsed)
        return lines

    def stop(self) -> None:
        """Stop gunicorn gracefully."""
        stop_process(self.process, timeout=30)


def _is_anchoring(pid: int) -> bool:
    try:
        return b"process_memory.anchoring.process" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return False


def _postgres_bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return candidates[-1].parent if candidates else None


def postgres_available() -> str | None:
    """Return None when a PostgreSQL server can be started, else why not."""
    if _postgres_bindir() is None:
        return "PostgreSQL server not installed (Debian package postgresql; .ci/run installs it)"
    return None


class PostgresServer:
    """A throw-away PostgreSQL cluster on a loopback port, run as the postgres user when we are root."""

    def __init__(self, fsync: bool = False, address: str = "127.0.0.1") -> None:
        import tempfile

        #: Tests run without fsync (faster, and a crash here loses nothing); benchmarks with it, as deployed.
        self.fsync = fsync
        #: The loopback address it listens on: another one (127.0.0.4, …) stands for another database host.
        self.address = address
        bindir = _postgres_bindir()
        assert bindir is not None
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pm-postgres-"))
        self.data_dir = self.root / "data"
        # initdb refuses to run as root; the Debian package creates the postgres user.
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.run_as:
            shutil.chown(self.root, "postgres")

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the test database."""
        return f"postgresql+psycopg://postgres@{self.address}:{self.port}/pm_test"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def create(self) -> None:
        """Initialise the cluster, start it and create the pm_test database."""
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self._trust_loopback()
        self.start()
        self.create_database("pm_test")

    def _trust_loopback(self) -> None:
        """Let every loopback address in, replication too: initdb's own lines name 127.0.0.1 alone."""
        with open(self.data_dir / "pg_hba.conf", "a") as hba:
            hba.write("host all all 127.0.0.0/8 trust\nhost replication all 127.0.0.0/8 trust\n")

    def create_standby(self, address: str, name: str = "standby") -> PostgresServer:
        """A streaming standby of this cluster on ``address``, copied by pg_basebackup and started; it connects as
        application ``name`` (what ``synchronous_standby_names`` names)."""
        standby = PostgresServer(self.fsync, address)
        source = f"host={self.address} port={self.port} user=postgres application_name={name}"
        backup = ["-D", str(standby.data_dir), "-R", "-X", "stream", "-c", "fast"]
        self._run(str(self.bindir / "pg_basebackup"), "-d", source, *backup)
        standby.start()
        return standby

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        """Run one statement on the postgres database, outside a transaction; return its rows, if any."""
        import psycopg

        conninfo = f"host={self.address} port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def promote(self) -> None:
        """Make this standby a primary, and wait until it takes writes."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "60", "promote")

    def create_database(self, name: str) -> str:
        """Create the database ``name``; return its libpq URL (for a server other than ours: FerretDB's)."""
        import psycopg

        conninfo = f"host={self.address} port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgres://postgres@{self.address}:{self.port}/{name}"

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        fsync = "on" if self.fsync else "off"
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={self.address} -c fsync={fsync} -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def stop(self) -> None:
        """Stop the cluster at once, as a crash would."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        """Stop the cluster if it runs and remove its files."""
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


def pgbouncer_binary() -> str | None:
    """Debian's pgbouncer, if installed."""
    return shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if Path(p).exists()), None)


class PgBouncerServer:
    """PgBouncer in transaction mode in front of one PostgreSQL server, on a loopback address of its own; run as
    the postgres user when we are root (it refuses to run as root)."""

    def __init__(self, postgres: PostgresServer, address: str = "127.0.0.6") -> None:
        import tempfile

        # Its own directory in /tmp, as PostgreSQL's: the postgres user must reach it, which a test's may not let.
        self.root = Path(tempfile.mkdtemp(prefix="pm-pgbouncer-"))
        self.postgres = postgres
        self.address = address
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` through the pooler."""
        return f"postgresql+psycopg://postgres@{self.address}:{self.port}/{database}"

    def log(self) -> str:
        """What PgBouncer logged: each client's login among it."""
        return (self.root / "pgbouncer.log").read_text(errors="replace")

    def start(self) -> None:
        """Write its configuration, start it in the foreground and wait until it listens."""
        (self.root / "userlist.txt").write_text('"postgres" ""\n')
        (self.root / "pgbouncer.ini").write_text(
            f"[databases]\n* = host={self.postgres.address} port={self.postgres.port}\n"
            f"[pgbouncer]\nlisten_addr = {self.address}\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.root}/userlist.txt\npool_mode = transaction\n"
            f"max_client_conn = 1000\ndefault_pool_size = 20\nlogfile = {self.root}/pgbouncer.log\n"
        )
        switch_user = ["-u", "postgres"] if os.geteuid() == 0 else []  # it drops root itself
        if switch_user:
            for path in (self.root, *self.root.iterdir()):
                shutil.chown(path, "postgres")
        command = [pgbouncer_binary() or "pgbouncer", "-q", *switch_user, str(self.root / "pgbouncer.ini")]
        self.process = spawn_server(command, self.port, "pgbouncer", self.address)

    def stop(self) -> None:
        """Stop it and remove its files."""
        stop_process(self.process, timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def redis_available() -> str | None:
    """Return None when a Redis server can be started, else why not."""
    if shutil.which("redis-server") is None:
        return "Redis server not installed (Debian package redis-server; .ci/run installs it)"
    return None


class RedisServer:
    """A throw-away redis-server on a loopback port, without persistence."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis:// URL of the server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = spawn_server(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.data_dir),
            ],
            self.port,
            "Redis",
        )

    def stop(self) -> None:
        """Stop the server."""
        stop_process(self.process, timeout=10)


def nginx_binary() -> str | None:
    """The nginx executable, if installed."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


class NginxServer:
    """nginx with the site `make nginx-config` renders, in a prefix directory of its own."""

    def __init__(self, root: Path, upstream: str, max_body: int) -> None:
        self.root = root
        self.port = free_port()
        self.upstream = upstream
        self.max_body = max_body
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """nginx's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Render the site, write a minimal nginx.conf around it, start nginx in the foreground."""
        from process_memory.deploy import render_nginx_config

        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "site.conf").write_text(
            render_nginx_config(f"127.0.0.1:{self.port}", self.upstream, self.max_body)
        )
        temp = {name: self.root / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir(exist_ok=True)
        (self.root / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"worker_processes 1;\npid {self.root}/nginx.pid;\nerror_log {self.root}/error.log warn;\n"
            "events { worker_connections 2048; }\n"
            f"http {{\n access_log {self.root}/access.log;\n"
            f" client_body_temp_path {temp['body']};\n proxy_temp_path {temp['proxy']};\n"
            f" fastcgi_temp_path {temp['fastcgi']};\n uwsgi_temp_path {temp['uwsgi']};\n"
            f" scgi_temp_path {temp['scgi']};\n include {self.root}/site.conf;\n}}\n"
        )
        self.process = spawn_server(
            [nginx_binary() or "nginx", "-p", str(self.root), "-c", str(self.root / "nginx.conf"), "-g", "daemon off;"],
            self.port,
            "nginx",
        )

    def stop(self) -> None:
        """Stop nginx."""
        stop_process(self.process, timeout=10)
