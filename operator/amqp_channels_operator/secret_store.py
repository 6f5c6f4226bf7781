"""Where Secrets are read and written: the only Kubernetes API calls the operator makes.

``SecretStore`` is the seam: the handlers take any store, the cluster uses
``KubernetesSecrets`` (the official client, in-cluster or kubeconfig credentials), and tests
use a store in memory.
"""

from __future__ import annotations

from typing import Any, Protocol

from .connection_secret import StoredSecret
from .errors import Temporary

TIMEOUT = 10  # seconds per Kubernetes API call


class SecretStore(Protocol):
    def read(self, namespace: str, name: str) -> StoredSecret | None:
        """The Secret, or None when it does not exist."""

    def write(self, manifest: dict[str, Any]) -> bool:
        """Create or replace the Secret; False when it already held exactly this."""

    def delete(self, namespace: str, name: str) -> bool:
        """Delete the Secret; False when it did not exist."""


class KubernetesSecrets:
    """Secrets through the Kubernetes API (the client is made on first use)."""

    def __init__(self) -> None:
        self._api: Any = None

    def _core(self) -> Any:
        if self._api is None:
            from kubernetes import client, config

            try:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
            except config.ConfigException:
                config.load_kube_config()  # type: ignore[no-untyped-call]
            self._api = client.CoreV1Api()
        return self._api

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One API call; None on 404; a 5xx or no answer becomes ``Temporary``."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return getattr(self._core(), method)(*args, _request_timeout=TIMEOUT, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status >= 500:
                raise Temporary(f"Kubernetes API {method}: {exc.status} {exc.reason}") from exc
            raise
        except HTTPError as exc:
            raise Temporary(f"Kubernetes API {method}: {exc}") from exc

    def read(self, namespace: str, name: str) -> StoredSecret | None:
        secret = self._call("read_namespaced_secret", name, namespace)
        if secret is None:
            return None
        annotations = secret.metadata.annotations
        return StoredSecret.from_manifest({"data": secret.data,
                                           "metadata": {"annotations": annotations}})

    def write(self, manifest: dict[str, Any]) -> bool:
        meta = manifest["metadata"]
        current = self._call("read_namespaced_secret", meta["name"], meta["namespace"])
        if current is None:
            self._call("create_namespaced_secret", meta["namespace"], manifest)
            return True
        same_annotations = all((current.metadata.annotations or {}).get(k) == v
                               for k, v in meta["annotations"].items())
        if (current.data or {}) == manifest["data"] and same_annotations:
            return False
        self._call("replace_namespaced_secret", meta["name"], meta["namespace"], manifest)
        return True

    def delete(self, namespace: str, name: str) -> bool:
        return self._call("delete_namespaced_secret", name, namespace) is not None
