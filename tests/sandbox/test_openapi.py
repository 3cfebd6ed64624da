"""The checked-in OpenAPI document is the one the sandbox generates now."""

from __future__ import annotations

import json
from pathlib import Path

from passerelle.sandbox.openapi import REGENERATE, openapi_document, render_openapi

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_checked_in_openapi_document_is_up_to_date() -> None:
    assert CHECKED_IN.exists(), f"docs/openapi.json is missing; create it with: {REGENERATE}"
    current = render_openapi()

    assert CHECKED_IN.read_text(encoding="utf-8") == current, (
        f"docs/openapi.json is stale; regenerate it with: {REGENERATE}"
    )


def test_the_document_covers_every_endpoint_of_the_contract() -> None:
    document = openapi_document()

    operations = {
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
    }
    assert operations == {
        "POST /v1/orders",
        "GET /v1/orders/{ref}",
        "POST /v1/orders/{ref}/shipments",
        "POST /v1/orders/{ref}/cancellations",
        "POST /v1/orders/{ref}/returns",
        "PUT /v1/orders/{ref}/cart",
        "POST /v1/batches",
        "GET /v1/batches/{batch_id}",
        "PATCH /v1/batches/{batch_id}",
        "DELETE /v1/batches/{batch_id}",
        "PUT /v1/batches/{batch_id}/entries",
        "GET /v1/disbursements",
        "GET /problems/{code}",
    }
    assert json.loads(render_openapi()) == document


def test_errors_are_documented_as_problems() -> None:
    document = openapi_document()

    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (
                        f"{method.upper()} {path} {status}"
                    )
    shipment_conflicts = document["paths"]["/v1/orders/{ref}/shipments"]["post"]["responses"]["409"]
    assert "`ship_exceeds_ordered`" in shipment_conflicts["description"]


def test_answers_naming_an_order_or_a_batch_link_to_what_can_be_done_with_it() -> None:
    document = openapi_document()
    operation_ids = {
        operation["operationId"]
        for methods in document["paths"].values()
        for operation in methods.values()
    }
    created = document["paths"]["/v1/orders"]["post"]["responses"]["201"]["links"]
    shipped = document["paths"]["/v1/orders/{ref}/shipments"]["post"]["responses"]["201"]["links"]
    batch = document["paths"]["/v1/batches"]["post"]["responses"]["201"]["links"]

    ship = document["paths"]["/v1/orders/{ref}/shipments"]["post"]["operationId"]
    assert created["Ship"] == {
        "operationId": ship,
        "parameters": {"ref": "$response.body#/reference"},
    }
    assert shipped["Return"]["parameters"] == {"ref": "$response.body#/order/reference"}
    assert set(batch) == {"GetBatch", "RescheduleBatch", "DeleteBatch", "ReplaceBatchEntries"}
    assert batch["DeleteBatch"]["parameters"] == {"batch_id": "$response.body#/id"}
    for methods in document["paths"].values():
        for operation in methods.values():
            for response in operation["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in operation_ids


def test_every_answer_declares_its_request_id_and_every_write_its_replays() -> None:
    document = openapi_document()

    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            write = method in ("post", "put", "patch", "delete")
            for status, response in operation["responses"].items():
                where = f"{method.upper()} {path} {status}"
                headers = response.get("headers", {})
                assert headers["Request-Id"]["required"] is True, where
                if status == "429":
                    assert headers["Retry-After"]["required"] is True, where
                replayable = write and int(status) < 500 and int(status) not in (401, 403, 429)
                assert ("Idempotent-Replayed" in headers) is replayable, where
                if replayable:
                    assert headers["Idempotent-Replayed"]["schema"]["enum"] == ["true"], where
                    assert not headers["Idempotent-Replayed"].get("required", False), where
