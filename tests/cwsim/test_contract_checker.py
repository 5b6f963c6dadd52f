"""The contract checker is not vacuous: it catches what breaks ConnectWise's schemas."""

from __future__ import annotations

import json

from starlette.testclient import TestClient
from tests.support.contract import SPEC_MEDIA, ContractLog, Exchange, check_exchange

from cwsim.sim import Simulator

HEADERS = {"clientid": "x", "authorization": "Basic eDp5", "accept": SPEC_MEDIA}


def exchange(
    method: str, path: str, status: int, body: object, request_body: object = None, query: str = ""
) -> Exchange:
    return Exchange(
        method=method,
        path=f"/v4_6_release/apis/3.0{path}",
        query=query,
        request_headers={**HEADERS, "content-type": "application/json"},
        request_body=json.dumps(request_body).encode() if request_body is not None else b"",
        status=status,
        response_headers={"content-type": SPEC_MEDIA},
        response_body=json.dumps(body).encode() if body is not None else b"",
    )


def test_checker_flags_bad_responses_and_lenient_acceptance() -> None:
    log = ContractLog()
    check_exchange(exchange("GET", "/company/companies", 200, [{"id": "seven", "identifier": "A", "name": "A"}]), log)
    check_exchange(exchange("GET", "/company/companies/1", 200, {"id": 1, "name": "no identifier"}), log)
    check_exchange(
        exchange("GET", "/finance/agreements/1/additions", 200, [{"product": {}, "billCustomer": "Maybe"}]), log
    )
    check_exchange(
        exchange(
            "POST",
            "/company/companies",
            201,
            {"id": 1, "identifier": "A", "name": "A"},
            request_body={"name": "no identifier"},
        ),
        log,
    )
    check_exchange(exchange("GET", "/company/companies", 418, {"oops": True}), log)
    check_exchange(exchange("DELETE", "/company/companies/1", 200, {"id": 1}), log)
    found = log.take()
    assert len(found) == 6, found
    assert "'seven' is not of type 'integer'" in found[0]
    assert "'identifier' is a required property" in found[1]
    assert "'Maybe' is not one of" in found[2]
    assert "accepted a request the schema forbids" in found[3]
    assert "not an ErrorResponseMessage" in found[4]
    assert "documents ['204'], not 200" in found[5]


def test_checker_accepts_good_and_partial_answers_and_skips_undescribed_paths() -> None:
    log = ContractLog()
    check_exchange(exchange("GET", "/company/companies", 200, [{"id": 1, "identifier": "A", "name": "A"}]), log)
    check_exchange(exchange("GET", "/company/companies", 200, [{"id": 1}], query="fields=id"), log)
    check_exchange(exchange("GET", "/system/info", 200, {"anything": 1}), log)
    check_exchange(exchange("GET", "/company/companies", 400, {"code": "InvalidObject", "message": "bad"}), log)
    assert log.take() == []
    assert log.checked == 3  # system/info is not in ConnectWise's schemas


def test_real_traffic_is_checked(cw: TestClient, basic: Simulator, contract_log: ContractLog) -> None:
    cw.get("/finance/agreements")
    cw.get("/company/contacts")  # described by the 2026.4 GET subset
    assert contract_log.checked == 2
