"""A client no one here wrote, pyconnectwise, unmodified, against cwsim over loopback HTTPS.

pyconnectwise only speaks https:// and uses ``requests``; it trusts cwsim's self-signed
certificate through ``REQUESTS_CA_BUNDLE``, as any requests-based client would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyconnectwise import ConnectWiseManageAPIClient
from tests.cwsim.conftest import BASIC
from tests.support.contract import ContractMiddleware
from tests.support.server import serve

from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.tls import write_self_signed


@pytest.fixture
def https_host(
    app: ContractMiddleware, sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    scenario = {
        **BASIC,
        "companies": BASIC["companies"]
        + [{"identifier": f"Extra{i:03d}", "name": f"Extra {i:03d}"} for i in range(60)],
    }
    load_scenario(sim, scenario)
    pair = write_self_signed(tmp_path / "cert.pem", tmp_path / "key.pem", datetime.now(UTC))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pair.cert_file))
    app.scheme = "https"
    with serve(app, ssl_certfile=str(pair.cert_file), ssl_keyfile=str(pair.key_file)) as url:
        yield url.removeprefix("https://")


def test_pyconnectwise_lists_creates_and_patches_over_https(https_host: str, sim: Simulator) -> None:
    # No codebase given: pyconnectwise discovers it through /login/companyinfo/sim.
    client = ConnectWiseManageAPIClient("sim", https_host, "pyconnectwise-test", "simpub", "simpriv")
    assert client.codebase == "v2026_4/"

    companies = list(client.company.companies.paginated(1, 25).all())  # follows the Link headers
    assert len(companies) == 63
    assert companies[0].identifier == "Acme"

    agreements = client.finance.agreements.get(params={"conditions": 'type/name = "Backup Services"'})
    assert [a.id for a in agreements] == [1, 2, 4]
    assert agreements[0].bill_start_date is not None

    additions = client.finance.agreements.id(1).additions.get()
    assert [(a.id, a.quantity) for a in additions] == [(1, 100)]

    created = client.finance.agreements.id(1).additions.post(
        data={
            "product": {"identifier": "BACKUP-SERVER"},
            "billCustomer": "Billable",
            "quantity": 3,
            "effectiveDate": "2026-10-01T00:00:00Z",
        }
    )
    assert created.id == 2
    assert created.unit_price == 40

    patched = (
        client.finance.agreements.id(1)
        .additions.id(created.id)
        .patch(data=[{"op": "replace", "path": "quantity", "value": 5}])
    )
    assert patched.quantity == 5
    assert patched.ext_price == 200

    stored = sim.state.collection("additions").by_id[created.id]
    assert stored["quantity"] == 5
    assert stored["_info"]["updatedBy"] == "SimAPI"
