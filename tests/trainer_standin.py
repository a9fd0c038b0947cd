"""A loopback HTTP server standing in for the Kubernetes API, the Kubeflow Trainer controller and
the kubelet, for the calls the `kubeflow` SDK's Kubernetes backend makes.

No Kubernetes API server runs here. The SDK (through the Kubernetes Python client, configured by
a kubeconfig naming this server: `tests.k8s_standin.kubeconfig`) talks HTTP to a real server on
loopback that speaks these endpoints:

- GET the ConfigMap kubeflow-system/kubeflow-trainer-public (the SDK's version check);
- GET namespaced trainingruntimes/NAME (always 404: none is installed) and
  clustertrainingruntimes/NAME (the stock torch-distributed of tests/data/torch_distributed.yaml);
- POST, GET and DELETE of trainer.kubeflow.org/v1alpha1 trainjobs;
- GET pods with a label selector (`key=value` and `key in (a, b)` terms), and GET a pod's log,
  also with follow=true (streamed until the node's process ends).

Every POSTed TrainJob is kept in `posted` exactly as received. It is checked against Kubeflow
Trainer's CRD as a strict API server does (`tests.crd`, unknown fields refused) and refused with
422 and a Status body when invalid; a name already taken gets 409.

Then the stand-in plays the Trainer controller, JobSet and the kubelet: for each of
spec.trainer.numNodes nodes it lists a pod labelled as JobSet labels it
(jobset.sigs.k8s.io/jobset-name, jobset.sigs.k8s.io/replicatedjob-name=node,
batch.kubernetes.io/job-completion-index=RANK), Pending for `pending_seconds` (scheduling and
the image pull), then Running: the TrainJob's command runs for real as a local process from this
checkout (a leading `torchrun` becomes `python -m torch.distributed.run`), with the environment
of the test process, then spec.trainer.env, then what Trainer's torch plugin injects
(PET_NNODES, PET_NPROC_PER_NODE=1, PET_NODE_RANK, PET_MASTER_ADDR=127.0.0.1, PET_MASTER_PORT a
free port), then `node_env[rank]` (a setting only that node sees). The pod ends Succeeded or
Failed with the process's exit status; its output (stdout and stderr together) is the pod's log.
The TrainJob gets the Complete condition once every node exited 0, Failed as soon as one did
not; then, as JobSet deletes a failed JobSet's active child Jobs, the other nodes are killed and
their pods removed. DELETE of a TrainJob kills its nodes' processes and removes it and its pods.

Not exercised: authentication and RBAC, admission webhooks and CEL validation
(x-kubernetes-validations), defaulting, runtimePatches (recorded, never applied: no security
context, service account or volume reaches the processes), JobSet itself, scheduling, resources
and real pods, images (the command runs from this checkout with this virtualenv, not from the
image the TrainJob names), the network between nodes (all on 127.0.0.1), and restarts by the
controller (a failed TrainJob stays failed here; the launcher deletes and resubmits it).
"""

import contextlib
import copy
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.parse
import uuid
from pathlib import Path

import yaml

from tests import crd
from tests.k8s_standin import reply, serve, status
from tests.net import free_port

REPO = Path(__file__).resolve().parents[1]
CRD_FILE = "trainer.kubeflow.org_trainjobs.yaml"
RUNTIME = yaml.safe_load((crd.DATA / "torch_distributed.yaml").read_text())
GROUP = "/apis/trainer.kubeflow.org/v1alpha1"
ROUTES = {
    "configmap": r"^/api/v1/namespaces/(?P<ns>[^/]+)/configmaps/(?P<name>[^/]+)$",
    "runtime": rf"^{GROUP}/namespaces/(?P<ns>[^/]+)/trainingruntimes/(?P<name>[^/]+)$",
    "cluster_runtime": rf"^{GROUP}/clustertrainingruntimes/(?P<name>[^/]+)$",
    "trainjobs": rf"^{GROUP}/namespaces/(?P<ns>[^/]+)/trainjobs$",
    "trainjob": rf"^{GROUP}/namespaces/(?P<ns>[^/]+)/trainjobs/(?P<name>[^/]+)$",
    "pods": r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$",
    "log": r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$",
}
TRAINER_VERSION = "v2.1.0"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def selects(selector: str, labels: dict[str, str]) -> bool:
    """Whether `labels` match a label selector of `key=value` and `key in (a, b)` terms."""
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", selector):
        term = term.strip()
        if not term:
            continue
        if found := re.fullmatch(r"(\S+)\s+in\s+\(([^)]*)\)", term):
            values = {v.strip() for v in found[2].split(",")}
            if labels.get(found[1]) not in values:
                return False
        else:
            key, _, value = term.partition("=")
            if labels.get(key.strip()) != value.lstrip("=").strip():
                return False
    return True


class Node:
    """One node of a TrainJob: its pod as the API lists it, and the process the kubelet runs."""

    def __init__(self, job: dict, rank: int, pod_name: str, env: dict[str, str]):
        self.rank, self.pod_name, self.env = rank, pod_name, env
        trainer = job["spec"].get("trainer") or {}
        command = list(trainer.get("command") or []) + list(trainer.get("args") or [])
        if command[:1] == ["torchrun"]:
            command = [sys.executable, "-m", "torch.distributed.run", *command[1:]]
        self.command = command
        self.phase = "Pending"
        self.exit_code: int | None = None
        self.process: subprocess.Popen | None = None
        self.log = bytearray()
        self.changed = threading.Condition()
        self.ended = False  # the process's output is all read (or it never started)
        self.removed = False
        spec_env = [{"name": k, "value": v} for k, v in env.items() if k.startswith("PET_")]
        spec_env += trainer.get("env") or []
        self.pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": job["metadata"]["namespace"],
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now(),
                "labels": {
                    "jobset.sigs.k8s.io/jobset-name": job["metadata"]["name"],
                    "jobset.sigs.k8s.io/replicatedjob-name": "node",
                    "jobset.sigs.k8s.io/job-index": "0",
                    "batch.kubernetes.io/job-completion-index": str(rank),
                    "trainer.kubeflow.org/trainjob-ancestor-step": "trainer",
                },
            },
            "spec": {
                "containers": [
                    {
                        "name": "node",
                        "image": trainer.get("image") or "",
                        "command": trainer.get("command") or [],
                        "env": spec_env,
                    }
                ]
            },
        }

    def as_listed(self) -> dict:
        pod = copy.deepcopy(self.pod)
        pod["status"] = {"phase": self.phase}
        return pod

    def start(self, cwd: Path) -> None:
        """The kubelet starts the container: here, the command as a local process."""
        self.process = subprocess.Popen(
            self.command,
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches torchrun's workers
        )
        self.phase = "Running"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while chunk := os.read(fd, 65536):
            with self.changed:
                self.log.extend(chunk)
                self.changed.notify_all()
        code = self.process.wait()
        with self.changed:
            self.exit_code = code
            if self.phase == "Running":
                self.phase = "Succeeded" if code == 0 else "Failed"
            self.ended = True
            self.changed.notify_all()

    def kill(self) -> None:
        """Stop the container (SIGTERM, then SIGKILL after a grace period) and wait for it."""
        with self.changed:
            if self.process is None:
                self.ended = True
                self.changed.notify_all()
                return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        # Then SIGKILL to the whole group: torchrun's workers may outlive torchrun.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stream(self, wfile, follow: bool) -> None:
        """Write the log; with `follow`, go on until the process has ended."""
        sent = 0
        while True:
            with self.changed:
                while follow and sent == len(self.log) and not self.ended:
                    self.changed.wait(timeout=1)
                data = bytes(self.log[sent:])
                done = not follow or self.ended
            if data:
                wfile.write(data)
                wfile.flush()
                sent += len(data)
            if done and sent >= len(self.log):
                return


class TrainerStandIn:
    """A loopback HTTP server standing in for the Kubernetes API, Kubeflow Trainer and kubelet.

    `pending_seconds`: how long each node's pod stays Pending before its process starts.
    `hold`: keep every pod Pending until `release()` (a cluster with no room yet).
    `node_env`: extra environment for the node of that rank only (a setting only it sees).
    `refuse`: answer every TrainJob POST with this (HTTP status, reason, message), as an API
    server that denies it (403 without RBAC) or cannot take it now (503).
    """

    def __init__(
        self,
        pending_seconds: float = 1.0,
        hold: bool = False,
        node_env: dict[int, dict[str, str]] | None = None,
        refuse: tuple[int, str, str] | None = None,
        cwd: Path = REPO,
    ):
        self.pending_seconds, self.node_env, self.cwd = pending_seconds, node_env or {}, cwd
        self.refuse = refuse
        self.held = hold
        self.trainjobs: dict[tuple[str, str], dict] = {}
        self.nodes: dict[tuple[str, str], list[Node]] = {}
        self.history: dict[str, list[Node]] = {}  # every TrainJob's nodes, deleted ones too
        self.posted: list[dict] = []  # every TrainJob POSTed, exactly as received
        self.deleted: list[str] = []  # the TrainJobs deleted, by name
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.unknown: list[tuple[str, str]] = []  # requests no endpoint here serves
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified on every request and change
        self.server, self.url = serve(self.handle)

    # --- HTTP -------------------------------------------------------------------------------

    def not_found(self, handler, what: str) -> None:
        reply(handler, 404, status(404, "NotFound", f"{what} not found"))

    def handle(self, handler, method: str) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((method, handler.path))
            self.changed.notify_all()
        for route, pattern in ROUTES.items():
            if found := re.match(pattern, url.path):
                getattr(self, f"on_{route}")(handler, method, found.groupdict(), query, raw)
                return
        with self.lock:
            self.unknown.append((method, handler.path))
        self.not_found(handler, url.path)

    def on_configmap(self, handler, method, path, query, raw) -> None:
        if method != "GET" or (path["ns"], path["name"]) != (
            "kubeflow-system",
            "kubeflow-trainer-public",
        ):
            self.not_found(handler, f'configmaps "{path["name"]}"')
            return
        metadata = {"name": path["name"], "namespace": path["ns"], "creationTimestamp": now()}
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
        reply(handler, 200, {**body, "data": {"kubeflow_trainer_version": TRAINER_VERSION}})

    def on_runtime(self, handler, method, path, query, raw) -> None:
        what = f'trainingruntimes.trainer.kubeflow.org "{path["name"]}"'
        self.not_found(handler, what)

    def on_cluster_runtime(self, handler, method, path, query, raw) -> None:
        if method != "GET" or path["name"] != RUNTIME["metadata"]["name"]:
            what = f'clustertrainingruntimes.trainer.kubeflow.org "{path["name"]}"'
            self.not_found(handler, what)
            return
        runtime = copy.deepcopy(RUNTIME)
        runtime["metadata"].update(uid="runtime-uid", creationTimestamp=now())
        reply(handler, 200, runtime)

    def on_trainjobs(self, handler, method, path, query, raw) -> None:
        if method != "POST":
            reply(handler, 405, status(405, "MethodNotAllowed", f"{method} not served"))
            return
        body = json.loads(raw)
        with self.lock:
            self.posted.append(copy.deepcopy(body))
        if self.refuse:
            reply(handler, self.refuse[0], status(*self.refuse))
            return
        name = (body.get("metadata") or {}).get("name") or ""
        problems = crd.errors(body, CRD_FILE, "v1alpha1")
        if body.get("apiVersion") != "trainer.kubeflow.org/v1alpha1":
            problems.append(f"apiVersion: {body.get('apiVersion')!r} is not served here")
        if body.get("kind") != "TrainJob":
            problems.append(f"kind: {body.get('kind')!r} is not TrainJob")
        if not name:
            problems.append("metadata.name: Required value")
        if body.get("metadata", {}).get("namespace", path["ns"]) != path["ns"]:
            problems.append("metadata.namespace: does not match the namespace of the request")
        if problems:
            message = f'TrainJob.trainer.kubeflow.org "{name}" is invalid: ' + "; ".join(problems)
            reply(handler, 422, status(422, "Invalid", message))
            return
        key = (path["ns"], name)
        with self.lock:
            if key in self.trainjobs:
                message = f'trainjobs.trainer.kubeflow.org "{name}" already exists'
                reply(handler, 409, status(409, "AlreadyExists", message))
                return
            job = copy.deepcopy(body)
            job["metadata"].update(
                namespace=path["ns"],
                uid=str(uuid.uuid4()),
                creationTimestamp=now(),
                resourceVersion="1",
                generation=1,
            )
            self.trainjobs[key] = job
            self._run(key, job)
            self.changed.notify_all()
            reply(handler, 201, job)

    def on_trainjob(self, handler, method, path, query, raw) -> None:
        key = (path["ns"], path["name"])
        what = f'trainjobs.trainer.kubeflow.org "{path["name"]}"'
        with self.lock:
            job = self.trainjobs.get(key)
            if job is None:
                self.not_found(handler, what)
                return
            if method == "GET":
                reply(handler, 200, job)
                return
            if method != "DELETE":
                reply(handler, 405, status(405, "MethodNotAllowed", f"{method} not served"))
                return
            del self.trainjobs[key]
            nodes = self.nodes.pop(key, [])
            self.deleted.append(path["name"])
            for node in nodes:
                node.removed = True
            self.changed.notify_all()
        for node in nodes:
            node.kill()
        reply(handler, 200, status(200, "", f"{what} deleted"))

    def on_pods(self, handler, method, path, query, raw) -> None:
        selector = query.get("labelSelector", "")
        with self.lock:
            pods = [
                node.as_listed()
                for (ns, _), nodes in self.nodes.items()
                if ns == path["ns"]
                for node in nodes
                if not node.removed and selects(selector, node.pod["metadata"]["labels"])
            ]
        body = {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}}
        reply(handler, 200, {**body, "items": pods})

    def on_log(self, handler, method, path, query, raw) -> None:
        with self.lock:
            found = [
                node
                for (ns, _), nodes in self.nodes.items()
                if ns == path["ns"]
                for node in nodes
                if node.pod_name == path["name"] and not node.removed
            ]
        if not found:
            self.not_found(handler, f'pods "{path["name"]}"')
            return
        (node,) = found
        if query.get("container", "node") != "node":
            message = f"container {query['container']} is not valid for pod {path['name']}"
            reply(handler, 400, status(400, "BadRequest", message))
            return
        if node.phase == "Pending":
            message = (
                f'container "node" in pod "{path["name"]}" is waiting to start: ContainerCreating'
            )
            reply(handler, 400, status(400, "BadRequest", message))
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()  # HTTP/1.0: the body ends when the connection closes
        node.stream(handler.wfile, query.get("follow", "").lower() in ("true", "t", "1"))

    # --- the controller and the kubelet -----------------------------------------------------

    def _run(self, key: tuple[str, str], job: dict) -> None:
        trainer = job["spec"].get("trainer") or {}
        count = trainer.get("numNodes") or RUNTIME["spec"]["mlPolicy"]["numNodes"]
        port = free_port()
        suffix = uuid.uuid4().hex[:5]
        nodes = []
        for rank in range(count):
            env = dict(os.environ)
            env.update({e["name"]: e.get("value", "") for e in trainer.get("env") or []})
            env.update(
                PET_NNODES=str(count),
                PET_NPROC_PER_NODE="1",
                PET_NODE_RANK=str(rank),
                PET_MASTER_ADDR="127.0.0.1",
                PET_MASTER_PORT=str(port),
            )
            env.update(self.node_env.get(rank, {}))
            pod_name = f"{key[1]}-node-0-{rank}-{suffix}"
            nodes.append(Node(job, rank, pod_name, env))
        self.nodes[key] = nodes
        self.history[key[1]] = nodes
        for node in nodes:
            threading.Thread(target=self._kubelet, args=(key, node), daemon=True).start()

    def _kubelet(self, key: tuple[str, str], node: Node) -> None:
        with self.lock:
            self.changed.wait_for(lambda: node.removed or not self.held)
            self.changed.wait_for(lambda: node.removed, timeout=self.pending_seconds)
            if node.removed:
                return
            node.start(self.cwd)
        with node.changed:
            node.changed.wait_for(lambda: node.ended)
        self._reconcile(key)

    def _reconcile(self, key: tuple[str, str]) -> None:
        """Play the controller: Failed once a node failed (the others are stopped), Complete once
        every node succeeded."""
        with self.lock:
            job, nodes = self.trainjobs.get(key), self.nodes.get(key, [])
            if job is None or job.get("status", {}).get("conditions"):
                return  # gone, or already finished
            failed = [n for n in nodes if n.phase == "Failed"]
            if failed:
                others = [n for n in nodes if n.phase in ("Pending", "Running")]
                for node in others:
                    node.removed = True
                message = f"jobset failed: node {failed[0].rank} exited {failed[0].exit_code}"
                condition = ("Failed", "JobSetFailed", message)
            elif all(n.phase == "Succeeded" for n in nodes):
                others = []
                condition = ("Complete", "JobSetCompleted", "jobset completed")
            else:
                return
            kind, reason, message = condition
            job.setdefault("status", {})["conditions"] = [
                {
                    "type": kind,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": now(),
                }
            ]
            job["metadata"]["resourceVersion"] = str(int(job["metadata"]["resourceVersion"]) + 1)
            self.changed.notify_all()
        for node in others:
            node.kill()

    def release(self) -> None:
        """Let held pods start."""
        with self.lock:
            self.held = False
            self.changed.notify_all()

    def wait_for(self, what, timeout: float) -> None:
        """Wait until `what()` holds (called under the stand-in's lock, after every change)."""
        with self.lock:
            if not self.changed.wait_for(what, timeout=timeout):
                raise TimeoutError(f"the stand-in did not get there within {timeout} s")

    def stop(self) -> None:
        with self.lock:
            nodes = [node for nodes in self.nodes.values() for node in nodes]
            for node in nodes:
                node.removed = True
            self.changed.notify_all()
        for node in nodes:
            node.kill()
        self.server.shutdown()
        self.server.server_close()
