"""The command line: a one-shot reconcile without Kubernetes, and the in-cluster operator.

``reconcile -f channellayer.yaml`` applies the same reconcile as the operator (for GitOps
pipelines and users without Kubernetes) and prints the Secret it would write as YAML. Admin
credentials come from RABBITMQ_ADMIN_USER / RABBITMQ_ADMIN_PASSWORD or ``--admin-file``
(YAML with the spec's username/password keys, or the admin Secret's own manifest). The
current password comes from ``--secret-in`` (the Secret printed by the previous run);
without it a new password is set. Changes go to stderr, one per line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from .connection_secret import StoredSecret
from .desired import desired_state
from .errors import OperatorError
from .management import Management
from .reconcile import reconcile, remove
from .spec import ChannelLayerSpec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amqp_channels_operator",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one_shot = commands.add_parser("reconcile", help="apply one ChannelLayer file, no cluster")
    one_shot.add_argument("-f", "--file", type=Path, required=True,
                          help="a YAML file holding one ChannelLayer")
    one_shot.add_argument("--dry-run", action="store_true", help="report, change nothing")
    one_shot.add_argument("--delete", action="store_true",
                          help="remove what the resource made (honours deletionPolicy)")
    one_shot.add_argument("--admin-file", type=Path, help="admin credentials (YAML)")
    one_shot.add_argument("--secret-in", type=Path,
                          help="the Secret of the previous run: keeps its password")
    one_shot.add_argument("--ca-file", type=Path,
                          help="CA bundle for an https management URL and the Secret's ca.crt")
    one_shot.add_argument("-o", "--output", type=Path, help="write the Secret here, not stdout")
    commands.add_parser("run", help="run the operator in a cluster (kopf run), "
                                    "extra arguments go to kopf", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "run":
        return _run_operator(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return _one_shot(args)
    except (OperatorError, OSError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _one_shot(args: argparse.Namespace) -> int:
    spec = ChannelLayerSpec.from_resource(_single_document(args.file))
    ca = args.ca_file.read_text() if args.ca_file else None
    api = Management(spec.management_url, *_admin_credentials(spec, args.admin_file),
                     ca_data=ca)
    if args.delete:
        changes = remove(api, desired_state(spec),
                         keep_vhost=spec.deletion_policy == "KeepVhost", dry_run=args.dry_run)
        _report(changes, args.dry_run)
        return 0
    stored = StoredSecret.from_manifest(_single_document(args.secret_in)) \
        if args.secret_in else None
    result = reconcile(spec, api, stored, ca=ca if spec.tls else None, dry_run=args.dry_run)
    _report(result.changes, args.dry_run)
    text = yaml.safe_dump(result.secret, sort_keys=False)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _report(changes: list[str], dry_run: bool) -> None:
    lead = "would: " if dry_run else ""
    for change in changes or ["no changes"]:
        print(f"{lead}{change}", file=sys.stderr)


def _single_document(path: Path) -> dict[str, Any]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise OperatorError(f"{path}: expected exactly one YAML object, got {len(documents)}")
    return documents[0]


def _admin_credentials(spec: ChannelLayerSpec, admin_file: Path | None) -> tuple[str, str]:
    if admin_file is None:
        user = os.environ.get("RABBITMQ_ADMIN_USER")
        password = os.environ.get("RABBITMQ_ADMIN_PASSWORD")
        if not user or not password:
            raise OperatorError("admin credentials missing: set RABBITMQ_ADMIN_USER and "
                                "RABBITMQ_ADMIN_PASSWORD, or pass --admin-file")
        return user, password
    document = _single_document(admin_file)
    values = StoredSecret.from_manifest(document).data if "kind" in document \
        else {str(k): str(v) for k, v in document.items()}
    keys = (spec.admin_secret.username_key, spec.admin_secret.password_key)
    missing = [key for key in keys if not values.get(key)]
    if missing:
        raise OperatorError(f"{admin_file}: no admin credentials under key(s) "
                            f"{', '.join(missing)} (the spec's adminSecretRef keys); "
                            f"it has {', '.join(sorted(values)) or 'no keys'}")
    return values[keys[0]], values[keys[1]]


HANDLERS = "amqp_channels_operator.handlers"
LIVENESS = "http://0.0.0.0:8080/healthz"  # the chart's operator.healthPort default


def kopf_arguments(extra: list[str]) -> list[str]:
    """``kopf run`` arguments: the chart's defaults (one replica without peering, kopf's
    /healthz on port 8080, every namespace) unless ``extra`` says otherwise; ``--liveness=``
    (empty) turns the endpoint off, ``--peering NAME`` replaces ``--standalone``."""
    # "--name=value" and "--name value" name --name; "-nvalue" and "-n value" name -n
    given = {a.split("=", 1)[0] if a.startswith("--") else a[:2]
             for a in extra if a.startswith("-")}
    defaults = []
    if not given & {"--standalone", "--peering", "-P"}:
        defaults.append("--standalone")
    if not given & {"--all-namespaces", "-A", "--namespace", "-n"}:
        defaults.append("--all-namespaces")
    if not given & {"--liveness", "-L"}:
        defaults.append(f"--liveness={LIVENESS}")
    return [*defaults, "-m", HANDLERS, *extra]


def _run_operator(extra: list[str]) -> int:
    """``kopf run`` on our handlers; e.g. ``run --all-namespaces`` or ``run -n apps``."""
    from kopf.cli import main as kopf_main

    kopf_main(["run", *kopf_arguments(extra)])
    return 0
