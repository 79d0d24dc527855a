"""The one reader of mlcp's records on an MLflow server: who may write the store is judged before any record is read.

mlcp's records (mlflow_inventory) are authorization inputs: whose an object is,
which experiment mlcp made or took over under a name (`made`, `taken`), whose
files a promotion may serve, which version an alias is healed back to. The
store is found by name, and under basic-auth any MLflow user may create an
experiment of any name and holds MANAGE on it. So every path that reads them
(the backend's plan, and `mlcp promotions history`) reads them here: the
server's auth probed, its users listed, each store judged by who may write it
(mlflow_record_trust) and refused, naming who, before a record of it is read.
A server whose auth cannot be told (no answer, a 5xx, a proxy's page) has all its
records refused the same way: taking "unknown" for "no auth" trusted a store
anyone might write.
A path that found the store by name alone (as the promotion history once did)
took whatever records a tenant squatting the name wrote there.
"""

from __future__ import annotations

from typing import Any

from controlplane.rendering.mlflow_objects import OWNER_TAG, OWNER_VALUE
from reconciler.backends.base import BackendError
from reconciler.backends.mlflow_inventory import RegistryInventory
from reconciler.backends.mlflow_permissions import Permissions
from reconciler.backends.mlflow_record_trust import RecordTrust
from reconciler.backends.mlflow_rest import MlflowRest

OWNED_FILTER = f"tags.`{OWNER_TAG}` = '{OWNER_VALUE}'"


def read(rest: MlflowRest, permissions: Permissions, store: RegistryInventory) -> list[dict[str, Any]]:
    """Read the installation's records into `store` (BackendError: refused, or MLflow did not answer), with the
    server's auth and users into `permissions`; the other experiments tagged as mlcp's (the live ones)."""
    if not rest.uri.startswith(("http://", "https://")):
        raise BackendError(f"tracking URI {rest.shown!r} is not an MLflow server (http:// or https://)")
    permissions.auth = rest.auth_enabled()
    if permissions.auth is None:  # unknown is not "no auth": who may write the records cannot be judged
        raise store.unchecked(
            f"cannot tell whether MLflow at {rest.shown} runs basic-auth (its answer to a request without "
            f"credentials: {rest.auth_unknown or 'neither 401 nor MLflow JSON'}), so who may write mlcp's records "
            "there cannot be judged: mlcp reads none of them and writes nothing to this MLflow. Check that the "
            "tracking URI reaches the MLflow server itself (not a proxy's or login page) and that it is up"
        )
    if permissions.auth and not rest.has_credentials:
        raise BackendError(
            f"MLflow at {rest.shown} requires basic-auth: set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD (an MLflow admin, to manage permissions and judge who may write mlcp's records)"
        )
    searched = list(rest.search("experiments/search", "experiments", filter=OWNED_FILTER, view_type="ALL"))
    permissions.read_users()  # who may write mlcp's records is judged before any is read
    return store.take(searched)


def checked(rest: MlflowRest, installation: str) -> RegistryInventory:
    """The records of the installation of controller namespace `installation`, read as the backend reads them
    (BackendError: its store is refused, naming who else may write it)."""
    permissions = Permissions(rest)
    store = RegistryInventory(rest, installation)
    store.writers = RecordTrust(rest, permissions).writers
    read(rest, permissions, store)
    return store
