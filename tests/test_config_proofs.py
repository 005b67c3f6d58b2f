"""The checkpoint signing key and log origin: read once from the environment, refused clearly, never echoed;
and the command that makes a key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from process_memory import create_app
from process_memory.config import DEFAULT_LOG_ORIGIN, ConfigError, Settings
from process_memory.proofs.notes import Signer, generate_key
from tests.keys import witness_key


def _settings(tmp_path: Path, **values: str) -> Settings:
    return Settings.from_env({"PROCESS_MEMORY_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", **values}, None)


def test_the_signing_key_and_origin_are_read_from_the_environment(tmp_path: Path) -> None:
    signer_key, verifier_key = generate_key("pm.example")
    (tmp_path / "signing.key").write_text(signer_key + "\n")
    key_file = str(tmp_path / "signing.key")
    settings = _settings(tmp_path, PROCESS_MEMORY_SIGNING_KEY_FILE=key_file, PROCESS_MEMORY_LOG_ORIGIN="logs.example")
    assert settings.signing_key is not None and settings.signing_key.verifier_key == verifier_key
    assert settings.log_origin == "logs.example" and signer_key not in repr(settings)
    unset = _settings(tmp_path)
    assert (unset.signing_key, unset.log_origin) == (None, DEFAULT_LOG_ORIGIN)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"PROCESS_MEMORY_SIGNING_KEY_FILE": "/nonexistent/signing.key"},
            "PROCESS_MEMORY_SIGNING_KEY_FILE cannot be read: No such file or directory",
        ),
        (
            {"PROCESS_MEMORY_SIGNING_KEY_FILE": "{bad}"},
            "PROCESS_MEMORY_SIGNING_KEY_FILE holds no note signer key (see keys signing-key)",
        ),
        (
            {"PROCESS_MEMORY_VERIFIER_KEYS_FILE": "/nonexistent/verifiers"},
            "PROCESS_MEMORY_VERIFIER_KEYS_FILE cannot be read: No such file or directory",
        ),
        (
            {"PROCESS_MEMORY_LOG_ORIGIN": "two words"},
            "PROCESS_MEMORY_LOG_ORIGIN is 1-200 printable characters without spaces",
        ),
        (
            {"PROCESS_MEMORY_LOG_ORIGIN": "x" * 201},
            "PROCESS_MEMORY_LOG_ORIGIN is 1-200 printable characters without spaces",
        ),
    ],
)
def test_a_bad_signing_setting_stops_the_start_without_echoing_the_key(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    signer_key = generate_key("pm.example")[0]
    (tmp_path / "bad.key").write_text(signer_key.replace("PRIVATE+KEY", "PUBLIC+KEY"))
    values = {k: str(tmp_path / "bad.key") if v == "{bad}" else v for k, v in values.items()}
    with pytest.raises(ConfigError) as refused:
        _settings(tmp_path, **values)
    assert str(refused.value) == message
    # The key's secret is everything after PRIVATE+KEY+<name>+<hash>+ (base64, which may itself hold a +).
    secret = signer_key.split("+", 4)[4]
    assert len(secret) > 40 and secret not in str(refused.value)


def test_keys_signing_key_writes_a_private_file_once_and_prints_the_verifier_key(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    out = tmp_path / "signing.key"
    made = app.test_cli_runner().invoke(args=["keys", "signing-key", "pm.example", "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert Signer.from_key(out.read_text()).verifier_key == made.output.strip()
    again = app.test_cli_runner().invoke(args=["keys", "signing-key", "pm.example", "--out", str(out)])
    assert again.exit_code == 2 and "never overwritten" in again.output
    # A directory that does not exist yet is made, private; one that cannot be is a one-line error, no trace.
    nested = tmp_path / "new" / "keys" / "signing.key"
    assert app.test_cli_runner().invoke(args=["keys", "signing-key", "n", "--out", str(nested)]).exit_code == 0
    assert stat.S_IMODE(nested.parent.stat().st_mode) == 0o700 and nested.exists()
    blocked = app.test_cli_runner().invoke(args=["keys", "signing-key", "n", "--out", "/proc/self/none/signing.key"])
    assert blocked.exit_code == 1 and "cannot write" in blocked.output and "Traceback" not in blocked.output


def test_earlier_verifier_keys_are_published_after_the_signing_keys(tmp_path: Path) -> None:
    signer_key, current = generate_key("pm.example")
    earlier = [generate_key("pm.example")[1], generate_key("pm.old")[1]]
    (tmp_path / "signing.key").write_text(signer_key)
    (tmp_path / "verifiers").write_text(f"# rotated out 2026-11\n{earlier[0]}\n\n{current}\n  {earlier[1]}  \n")
    settings = _settings(
        tmp_path,
        PROCESS_MEMORY_SIGNING_KEY_FILE=str(tmp_path / "signing.key"),
        PROCESS_MEMORY_VERIFIER_KEYS_FILE=str(tmp_path / "verifiers"),
    )
    published = create_app(settings).test_client().get("/api/v1/keys").get_json()["keys"]
    assert published == [current, *earlier]  # the current key once, and first
    (tmp_path / "verifiers").write_text(f"{earlier[0]}\nnot-a-key\n")
    with pytest.raises(ConfigError, match="line 2 is not a verifier key"):
        _settings(tmp_path, PROCESS_MEMORY_VERIFIER_KEYS_FILE=str(tmp_path / "verifiers"))


def _witnessed_settings(tmp_path: Path, origin: str = "pm.example", **values: str) -> Settings:
    (tmp_path / "signing.key").write_text(generate_key(origin)[0])
    key_file = str(tmp_path / "signing.key")
    return _settings(
        tmp_path, PROCESS_MEMORY_SIGNING_KEY_FILE=key_file, PROCESS_MEMORY_LOG_ORIGIN="pm.example", **values
    )


def test_witnesses_and_their_quorum_are_read_from_the_environment(tmp_path: Path) -> None:
    first, second = witness_key("w1.example"), witness_key("w2.example")
    configured = f" {first} https://w1.example/  ;\n{second} http://10.0.0.2:7380\n;"
    settings = _witnessed_settings(tmp_path, PROCESS_MEMORY_WITNESSES=configured)
    assert [(w.name, w.url) for w in settings.witnesses] == [
        ("w1.example", "https://w1.example"),
        ("w2.example", "http://10.0.0.2:7380"),
    ]
    assert settings.witness_quorum == 2  # every witness, unless told otherwise
    one = _witnessed_settings(tmp_path, PROCESS_MEMORY_WITNESSES=configured, PROCESS_MEMORY_WITNESS_QUORUM="1")
    assert one.witness_quorum == 1
    assert (_settings(tmp_path).witnesses, _settings(tmp_path).witness_quorum) == ((), 0)


@pytest.mark.parametrize(
    ("configured", "quorum", "message"),
    [
        (
            "{w1} https://w1.example;not-a-key https://w2.example",
            "",
            "PROCESS_MEMORY_WITNESSES: witness 2: a witness key is name+hash+key, its hash eight hex digits",
        ),
        (
            "{w1}",
            "",
            "PROCESS_MEMORY_WITNESSES: witness 1: its URL is http:// or https://, after its key and a space",
        ),
        (
            "{w1} ftp://w1.example",
            "",
            "PROCESS_MEMORY_WITNESSES: witness 1: its URL is http:// or https://, after its key and a space",
        ),
        (
            "{w1} https://w1.example;{w1} https://w1-again.example",
            "",
            "PROCESS_MEMORY_WITNESSES: witness 2: a second witness named w1.example",
        ),
        (
            "{w1} https://w1.example;{w2} https://w2.example",
            "3",
            "PROCESS_MEMORY_WITNESS_QUORUM must be between 1 and 2",
        ),
        ("{w1} https://w1.example", "0", "PROCESS_MEMORY_WITNESS_QUORUM must be between 1 and 1"),
        ("", "1", "PROCESS_MEMORY_WITNESS_QUORUM must be between 0 and 0"),
        ("{w1} https://w1.example", "all", "PROCESS_MEMORY_WITNESS_QUORUM must be a whole number"),
    ],
)
def test_a_bad_witness_setting_stops_the_start(tmp_path: Path, configured: str, quorum: str, message: str) -> None:
    keys = {"w1": witness_key("w1.example"), "w2": witness_key("w2.example")}
    values = {"PROCESS_MEMORY_WITNESSES": configured.format(**keys), "PROCESS_MEMORY_WITNESS_QUORUM": quorum}
    with pytest.raises(ConfigError) as refused:
        _witnessed_settings(tmp_path, **values)
    assert str(refused.value) == message


@pytest.mark.parametrize("signing_key", ["none", "named otherwise"])
def test_witnesses_need_the_signing_key_named_as_the_origin(tmp_path: Path, signing_key: str) -> None:
    # litewitness knows a log by its origin, and checks the log's signature by the key of that name.
    configured = f"{witness_key('w1.example')} https://w1.example"
    with pytest.raises(ConfigError) as refused:
        if signing_key == "none":
            _settings(tmp_path, PROCESS_MEMORY_WITNESSES=configured, PROCESS_MEMORY_LOG_ORIGIN="pm.example")
        else:
            _witnessed_settings(tmp_path, origin="pm.other", PROCESS_MEMORY_WITNESSES=configured)
    assert str(refused.value) == (
        "PROCESS_MEMORY_WITNESSES needs a signing key named as PROCESS_MEMORY_LOG_ORIGIN: "
        "witnesses know the service log by its origin and its key by that name"
    )
