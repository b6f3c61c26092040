"""`auditlens run` on the embedded database seals out of the box: without a configured signing
key it makes one for this local installation (in the embedded data folder, readable by its
owner only), seals every organisation once and verifies the demo, so the Integrity page shows
a verified state; the background sealer then keeps sealing with the same key.

A configured key (AUDITLENS_SIGNING_KEY_FILE or AUDITLENS_SIGNING_KEY) always wins, and a
configured database (AUDITLENS_DATABASE_URL) never gets a key made for it: production keys
are created deliberately (`auditlens signing-key create`) and kept away from the database.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from integrity import keys as keymod
from integrity.seal import seal_all
from integrity.seal_schedule import signing_key_configured
from integrity.verify import verify_organization
from sql.gateway import Database

LOCAL_KEY_NAME = "seal.key"


def local_key_path(db: Database) -> Path | None:
    """Where the embedded installation keeps its own signing key; None for a configured DB."""
    if db.embedded is None:
        return None
    return db.embedded.data_dir / LOCAL_KEY_NAME


def seal_out_of_the_box(db: Database, demo_org: str, log: Callable[[str], None]) -> bool:
    """Make (or reuse) the local signing key, configure it for this process and its children,
    seal every organisation and verify `demo_org`. False when nothing was done (a configured
    key or a configured database: their sealing is the operator's)."""
    if signing_key_configured():
        return False
    path = local_key_path(db)
    if path is None:
        return False
    if path.exists():
        key = keymod.load_signing_key(path)
    else:
        key = keymod.generate()
        keymod.write_signing_key(key, path)
        log(f"sealing: made a signing key for this local installation at {path}")
    os.environ[keymod.SIGNING_KEY_FILE_ENV] = str(path)
    seals = seal_all(db, key)
    trusted = keymod.PublicKeys({key.key_id: key.public})
    verify_organization(db, demo_org, trusted, actor="system:run")
    log(f"sealing: {len(seals)} seal(s) made; {demo_org} verified")
    return True
