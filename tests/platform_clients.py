"""The platform's clients, as they speak to the service: the calls, URLs, bodies and parsing they use.

Modelled line for line on onsplatform/platform_sdk ``ProcessMemoryApi`` and
``utils/http.py`` (branch ``reproduction``, b3ecb177) and on
ONSBR/Plataforma-Executor ``sdk/process_memory.py`` and ``sdk/utils.py``
(branches ``fix_reprocess`` 30a6427c and ``reproduction`` 6db8e75d), with
only the transport kept: what a client sends and how it reads the answer.
"""

from __future__ import annotations

import json
from typing import Any

import requests


class SdkProcessMemoryApi:
    """platform_sdk's ProcessMemoryApi: a base URL ending in "/", raise_for_status, ``.json()``, errors as None."""

    def __init__(self, api_url: str) -> None:
        assert api_url.endswith("/")
        self.url = api_url

    def _result(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            response = call(*args, timeout=300, **kwargs)
            response.raise_for_status()
            return response.json()
        except requests.exceptions.RequestException:
            return None  # HttpRequestResult.error: has_error, and the caller returns None

    def _get(self, path: str) -> Any:
        return self._result(requests.get, self.url + path)

    def _post(self, path: str, body: Any) -> Any:
        headers = {"content-type": "application/json"}
        return self._result(requests.post, url=self.url + path, data=json.dumps(body, default=str), headers=headers)

    def get_process_memory_data(self, process_memory_id: str) -> Any:
        return self._get(f"{process_memory_id}/head")

    def get_payload(self, process_memory_id: str) -> Any:
        return self._get(f"payload/{process_memory_id}")

    def get_maps(self, process_memory_id: str) -> Any:
        return self._get(f"maps/{process_memory_id}")

    def get_event(self, process_memory_id: str) -> Any:
        return self._get(f"event/{process_memory_id}")

    def get_entities(self, process_memory_id: str) -> Any:
        return self._get(f"entities/{process_memory_id}")

    def get_instance_filter(self, process_memory_id: str) -> Any:
        return self._get(f"instance_filter/{process_memory_id}")

    def get_instance_filters_by_instance_ids(self, instance_ids: list[str]) -> Any:
        return self._post("instance_filters/byinstanceids", {"instance_ids": instance_ids})

    def get_instance_filters_by_instance_ids_and_types(self, instances_and_types: dict[str, list[str]]) -> Any:
        return self._post("instance_filters/byinstanceidsandtypes", {"instances_and_types": instances_and_types})

    def get_using_entities(self, entities: dict[str, Any]) -> Any:
        return self._post("instances/reprocessable/byentities", entities)

    def get_by_tags(self, tags: dict[str, list[str]]) -> Any:
        return self._post("instances/bytags", {"tables_grouped_by_tags": tags})

    def get_events_between_dates(self, process_id: str, begin: str, end: str | None) -> Any:
        body = {"process_id": process_id, "date_begin_validity": begin, "date_end_validity": end}
        return self._post("events/between/dates", body)

    def get_current_events_between_dates(self, process_id: str, begin: str, end: str | None) -> Any:
        body = {"process_id": process_id, "date_begin_validity": begin, "date_end_validity": end}
        return self._post("current/events/between/dates", body)


class ExecutorResult:
    """The Executor's ExecutionResult: the parsed JSON only when the content type is exactly application/json."""

    def __init__(self, response: requests.Response | None) -> None:
        self.has_error = response is None
        self.data: Any = None
        if response is not None and response.text:
            is_json = response.headers["Content-Type"] == "application/json"
            self.data = response.json() if is_json else response.text


class ExecutorProcessMemory:
    """Plataforma-Executor's sdk.process_memory: ``f"{URL}:{PORT}/…"``, ``json=`` bodies."""

    def __init__(self, base: str) -> None:
        self.base = base

    def _call(self, verb: Any, path: str, data: Any = None) -> ExecutorResult:
        try:
            response = verb(f"{self.base}/{path}", **({"json": data} if data else {}))
            response.raise_for_status()
            return ExecutorResult(response)
        except requests.exceptions.RequestException:
            return ExecutorResult(None)

    def create_memory(self, process_instance_id: str, event: dict[str, Any]) -> bool:
        return not self._call(requests.post, process_instance_id, {"event": event}).has_error

    def commit(self, instance_id: str, data: dict[str, Any]) -> bool:
        return not self._call(requests.post, f"{instance_id}/commit", data).has_error

    def first_commit(self, instance_id: str) -> Any:
        """The fix_reprocess branch: ``/first``, then ``[0]``."""
        result = self._call(requests.get, f"{instance_id}/first")
        return result.data[0] if len(result.data) > 0 else None

    def first_commit_from_head(self, instance_id: str) -> Any:
        """The reproduction branch: ``/head``, an object."""
        result = self._call(requests.get, f"{instance_id}/head")
        return result.data or None

    def clone(self, from_instance_id: str, to_instance_id: str) -> bool:
        return not self._call(requests.post, f"clone/{from_instance_id}/{to_instance_id}").has_error
