"""The platform's clients against a real gunicorn on SQLite, PostgreSQL and FerretDB: reprocessing end to end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.keys import write_test_keys
from tests.memories import TAG, Scenario, event, memory
from tests.platform_clients import ExecutorProcessMemory, SdkProcessMemoryApi
from tests.services import GunicornServer
from tests.test_gunicorn import SERVER_BACKENDS, serve_backend


@pytest.fixture(params=SERVER_BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GunicornServer]:
    """gunicorn with two workers over one backend of its own, requiring keys; data offloaded from 64 KiB."""
    keys = write_test_keys(tmp_path)
    yield from serve_backend(request, tmp_path, workers=2, max_data=65536, keys=keys)


def keyed(server: GunicornServer) -> str:
    """The server's URL with the key in it, as the platform's services are configured: they send it as Basic auth."""
    assert server.keys is not None
    return server.url.replace("http://", f"http://platform:{server.keys.secrets['all']}@")


def test_an_executor_run_creates_and_commits_a_memory_the_sdk_reads(server: GunicornServer) -> None:
    executor, sdk = ExecutorProcessMemory(keyed(server)), SdkProcessMemoryApi(keyed(server) + "/")
    iid = str(uuid.uuid4())
    assert executor.create_memory(iid, event(iid))
    assert sdk.get_process_memory_data(iid)["event"]["name"] == "calcular.taxa.request"
    filters = [{"type": "usina", "filter_name": "byId", "app": "sager", "branch": "master", "params": {"id": "U1"}}]
    document = memory(iid, instance_filter=filters)
    assert executor.commit(iid, document)
    head = sdk.get_process_memory_data(iid)
    assert head["dataset"]["entities"] == {"usina": document["dataset"]["entities"]["usina"]}
    assert head["map"]["content"] == sdk.get_maps(iid) == document["map"]["content"]
    assert sdk.get_entities(iid) == head["dataset"]["entities"]
    assert sdk.get_payload(iid) == document["event"]["payload"]
    the_event = sdk.get_event(iid)
    assert the_event["header"]["referenceDate"] == "2026-01-10T00:00:00" and the_event["header"]["image"] == TAG
    assert the_event["referenceDate"] == "2026-01-10T00:00:00.000000Z" and the_event["reprocessing"] == {}
    [instance_filter] = sdk.get_instance_filter(iid)
    assert instance_filter["filter_name"] == "byId" and instance_filter["header"]["version"] == "v1"
    assert sdk.get_instance_filters_by_instance_ids([iid]) == [instance_filter]
    assert sdk.get_instance_filters_by_instance_ids_and_types({iid: ["usina"]}) == [instance_filter]
    assert executor.first_commit(iid)["event"]["name"] == "calcular.taxa.request"
    assert executor.first_commit_from_head(iid)["event"]["instanceId"] == iid


def test_the_reprocessing_flow_finds_the_instances_to_run_again(server: GunicornServer) -> None:
    executor, sdk = ExecutorProcessMemory(keyed(server)), SdkProcessMemoryApi(keyed(server) + "/")
    scenario = Scenario(tag=str(uuid.uuid4()), process=str(uuid.uuid4()))  # PostgreSQL's tables are shared
    tables_by_tag = scenario.tables_by_tag
    for iid, document in [*scenario.readers(), scenario.update_of_u1()]:
        assert executor.commit(iid, document)
    # platform_reprocess: the entities the writer touched, then who read them, then who could have.
    touched = sdk.get_entities(scenario.writer)["usina"]
    request = {"entities": [entity["id"] for entity in touched], "tables_grouped_by_tags": tables_by_tag}
    assert sdk.get_using_entities(request) == [scenario.a]
    tagged = sdk.get_by_tags(tables_by_tag)
    assert sorted(item["id"] for item in tagged) == sorted([scenario.a, scenario.b])
    assert {item["tag"] for item in tagged} == {scenario.tag}
    window = ("2026-01-01T00:00:00.000", "2026-01-31T00:00:00.000")
    assert sdk.get_events_between_dates(scenario.process, *window) == [scenario.a, scenario.b]
    for newer in (True, False):
        iid, document = scenario.reprocess_of_a(newer)
        assert executor.commit(iid, document)
    assert sdk.get_using_entities(request) == [scenario.newer_reprocess]
    assert {item["id"] for item in sdk.get_by_tags(tables_by_tag)} == {scenario.newer_reprocess, scenario.b}
    current = sdk.get_current_events_between_dates(scenario.process, *window)
    assert sorted(item["id"] for item in current) == sorted([scenario.newer_reprocess, scenario.b])
    reprocessed = sdk.get_event(scenario.newer_reprocess)
    assert reprocessed["reprocessing"]["originalInstanceId"] == scenario.a
    assert sdk.get_using_entities({"entities": ["nobody"], "tables_grouped_by_tags": tables_by_tag}) is None


def test_a_reproduction_clones_the_memory_and_unknown_ids_are_none(server: GunicornServer) -> None:
    executor, sdk = ExecutorProcessMemory(keyed(server)), SdkProcessMemoryApi(keyed(server) + "/")
    source, target = str(uuid.uuid4()), str(uuid.uuid4())
    assert executor.commit(source, memory(source))
    assert executor.clone(source, target)
    copy = sdk.get_event(target)
    assert copy["reproduction"] == {"from": source, "to": target} and copy["instanceId"] == target
    assert sdk.get_entities(target) == sdk.get_entities(source)
    unknown = str(uuid.uuid4())
    for read in (sdk.get_process_memory_data, sdk.get_event, sdk.get_entities, sdk.get_maps, sdk.get_payload):
        assert read(unknown) is None
    assert not executor.clone(unknown, str(uuid.uuid4()))
    assert executor.first_commit(unknown) is None
