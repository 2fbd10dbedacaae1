"""The portal: a web service for commissioners, providers and auditors on the ledger database.

    >>> from pbrkit.web import Settings, create_app
    >>> app = create_app(Settings(database_url="ledger.sqlite", secret_key=...))

`pbrkit serve` runs it; `pbrkit user add` creates accounts. See docs/portal.md.
Modules: `settings`, `models` (+ `migrations/`), `database`, `auth`, `access`
(the role rules), the services (`accounts`, `programmes`, `datasets`, `jobs`,
`statements`, `queries`, `audit`), `api` (REST, /api/v1) and `app`.
"""

from pbrkit.web.app import create_app
from pbrkit.web.settings import Settings

__all__ = ["Settings", "create_app"]
