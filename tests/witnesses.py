"""Independent witnesses for the tests: litewitness (filippo.io/torchwood, C2SP tlog-witness), built by
tools/witness/build.sh, signing through a private ssh-agent of its own, as its README runs it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx

from tests.services import ROOT, free_port, port_open, stop_process, wait_until

BIN = ROOT / ".cache" / "bin"
LITEWITNESS = BIN / "litewitness"
WITNESSCTL = BIN / "witnessctl"


def witness_available() -> str | None:
    """Return None when litewitness can run here, else why not."""
    if not (LITEWITNESS.exists() and WITNESSCTL.exists()):
        return "litewitness not built (needs Go; `make test` builds it with tools/witness/build.sh)"
    if not (shutil.which("ssh-agent") and shutil.which("ssh-add") and shutil.which("ssh-keygen")):
        return "litewitness signs through ssh-agent: install openssh-client"
    return None


class Litewitness:
    """One litewitness process with its own database, key and ssh-agent."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.port = free_port()
        self.db = directory / "witness.db"
        self.agent_socket = directory / "agent.sock"
        self.agent: subprocess.Popen[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.verifier_key = ""

    @property
    def url(self) -> str:
        """Where it answers."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Make its key, start its agent and itself, and read its verifier key from its front page."""
        self.directory.mkdir(parents=True, exist_ok=True)
        key = self.directory / "key"
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        self.agent = subprocess.Popen(
            ["ssh-agent", "-D", "-a", str(self.agent_socket)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        agent_env = {**os.environ, "SSH_AUTH_SOCK": str(self.agent_socket)}

        def key_added() -> bool:  # the socket appears before the agent listens on it
            added = subprocess.run(["ssh-add", "-q", str(key)], env=agent_env, capture_output=True)
            return added.returncode == 0

        wait_until(key_added, 10, "ssh-agent taking the witness key")
        listing = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"], check=True, text=True, capture_output=True
        ).stdout
        fingerprint = listing.split()[1]
        command = [
            str(LITEWITNESS),
            "-name",
            self.name,
            "-key",
            fingerprint,
            "-ssh-agent",
            str(self.agent_socket),
            "-db",
            str(self.db),
            "-listen",
            f"127.0.0.1:{self.port}",
        ]
        with open(self.directory / "litewitness.log", "ab") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        wait_until(lambda: port_open(self.port) or self.process.poll() is not None, 30, "litewitness start")
        if self.process.poll() is not None:
            raise RuntimeError(f"litewitness exited with {self.process.returncode}")
        page = httpx.get(f"{self.url}/", timeout=5).text
        match = re.search(r"(\S+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]{40,})", page)
        assert match, "litewitness's front page shows its verifier key"
        self.verifier_key = match.group(1)

    def add_log(self, origin: str, log_key: str) -> None:
        """Let the witness cosign the log ``origin``, signed by ``log_key`` (a verifier key named ``origin``)."""
        subprocess.run(
            [str(WITNESSCTL), "add-log", "-db", str(self.db), "-origin", origin], check=True, capture_output=True
        )
        subprocess.run(
            [str(WITNESSCTL), "add-key", "-db", str(self.db), "-origin", origin, "-key", log_key],
            check=True,
            capture_output=True,
        )

    def known_size(self, origin: str) -> int | None:
        """The size the witness last cosigned for ``origin``, from its own database."""
        listing = subprocess.run(
            [str(WITNESSCTL), "list-logs", "-db", str(self.db)], check=True, text=True, capture_output=True
        ).stdout
        for line in listing.splitlines():
            if f'"origin":"{origin}"' in line:
                return int(re.search(r'"size":(\d+)', line).group(1))  # type: ignore[union-attr]
        return None

    def stop(self) -> None:
        """Stop the witness and its agent."""
        stop_process(self.process, timeout=10)
        stop_process(self.agent, timeout=10)
        self.process = self.agent = None
