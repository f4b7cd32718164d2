#!/usr/bin/env python3
"""Plays the kubelet for the test control plane's nodes (Tests/Support/kube-rig): registers Node objects with CPU,
memory, GPU (and shared-GPU) capacity, labels and taints, keeps them Ready, and moves the pods the scheduler binds to them through their
lives. A pod says how its container "runs" through environment variables of its first container:

  TEST_OUTCOME   succeed (default for Jobs) | fail:CODE | oom | image-pull | config-error | run (default for Deployments)
  TEST_SECONDS   how long it runs before that outcome (default 2)
  TEST_PULL_SECONDS  how long it stays Pending (ContainerCreating, as while its image is pulled) before it runs (default 0)
  TEST_LOG       what its log holds (default: "<pod> ran on <node>")

Pods being deleted are removed at once (there is no container to stop), as a kubelet would after the grace period.
Logs are served to the API server on each node's kubelet port (HTTPS, self-signed), so `kubectl logs` and Tarmac's log
reads work. Standard library only.
"""
import argparse, json, os, ssl, sys, threading, time, urllib.error, urllib.parse, urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_NODES = [
    {"name": "gpu-a", "cpu": "32", "memory": "128Gi", "gpus": 8, "labels": {"tarmac.dev/pool": "gpu", "topology.kubernetes.io/zone": "z1",
                                                                            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
    {"name": "gpu-b", "cpu": "32", "memory": "128Gi", "gpus": 8, "labels": {"tarmac.dev/pool": "gpu", "topology.kubernetes.io/zone": "z1",
                                                                            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
    {"name": "cpu-a", "cpu": "8", "memory": "32Gi", "gpus": 0, "labels": {"tarmac.dev/pool": "cpu"}},
    {"name": "cpu-b", "cpu": "8", "memory": "32Gi", "gpus": 0, "labels": {"tarmac.dev/pool": "cpu"}},
    # For the example platform (examples/platform): two whole H100 nodes, and an L4 node whose GPUs are time-sliced
    # four ways (the device plugin then advertises slices under nvidia.com/gpu.shared).
    {"name": "h100-a", "cpu": "192", "memory": "2Ti", "gpus": 8, "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
     "labels": {"tarmac.dev/pool": "train-h100", "topology.kubernetes.io/zone": "z1", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
    {"name": "h100-b", "cpu": "192", "memory": "2Ti", "gpus": 8, "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
     "labels": {"tarmac.dev/pool": "train-h100", "topology.kubernetes.io/zone": "z1", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
    {"name": "l4-a", "cpu": "48", "memory": "192Gi", "gpus": 0, "extra": {"nvidia.com/gpu.shared": "16"},
     "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}], "labels": {"tarmac.dev/pool": "serve-l4", "nvidia.com/gpu.product": "NVIDIA-L4"}},
]


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


class API:
    def __init__(self, server, token):
        self.server = server.rstrip("/")
        self.token = token
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def call(self, method, path, body=None, content_type="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


class Agent:
    def __init__(self, api, nodes, cert, key):
        self.api = api
        self.nodes = {n["name"]: n for n in nodes}
        self.ports = {}
        self.logs = {}  # (namespace, pod) -> text
        self.started = {}  # pod uid -> (time it started running, as the pod says it)
        self.seen = {}  # pod uid -> time it was first seen on its node
        self.lock = threading.Lock()
        self.cert, self.key = cert, key

    # --- nodes
    @staticmethod
    def capacity(n):
        c = {"cpu": n["cpu"], "memory": n["memory"], "pods": "110", "ephemeral-storage": "100Gi"}
        if n.get("gpus"):
            c["nvidia.com/gpu"] = str(n["gpus"])
        c.update(n.get("extra", {}))
        return c

    def register(self):
        for n in self.nodes.values():
            capacity = self.capacity(n)
            node = {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": n["name"], "labels": dict(n.get("labels", {}), **{"kubernetes.io/hostname": n["name"], "kubernetes.io/os": "linux"})},
                    "spec": {"taints": n.get("taints", [])}}
            s, o = self.api.call("POST", "/api/v1/nodes", node)
            if s not in (201, 409):
                sys.exit("cannot register node %s: %s %s" % (n["name"], s, o))
            self.heartbeat(n, capacity)
            # The API server taints a new node not-ready until its lifecycle controller sees it Ready; the rig runs no
            # such controller, so the agent, as the node's kubelet, clears it.
            self.api.call("PATCH", "/api/v1/nodes/%s" % n["name"], {"spec": {"taints": n.get("taints") or None}}, "application/merge-patch+json")

    def heartbeat(self, n, capacity=None):
        if capacity is None:
            capacity = self.capacity(n)
        status = {"status": {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "tarmac test node agent",
                            "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": n["name"]}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.ports[n["name"]]}},
            "nodeInfo": {"kubeletVersion": "v1.36.0-tarmac-agent", "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "none://0", "kernelVersion": "", "osImage": "", "kubeProxyVersion": "",
                         "machineID": "", "systemUUID": "", "bootID": ""},
        }}
        self.api.call("PATCH", "/api/v1/nodes/%s/status" % n["name"], status, "application/merge-patch+json")

    # --- pods
    @staticmethod
    def env(pod):
        c = (pod["spec"].get("containers") or [{}])[0]
        return {e["name"]: e.get("value", "") for e in c.get("env", []) if "name" in e}

    def status(self, pod, phase, state, ready=False, reason=None):
        c = pod["spec"]["containers"][0]
        cs = {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready, "restartCount": 0,
              "started": "running" in state, "state": state}
        body = {"status": {"phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
                           "startTime": pod["status"].get("startTime") or now(),
                           "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now()},
                                          {"type": "Initialized", "status": "True", "lastTransitionTime": now()},
                                          {"type": "ContainersReady", "status": "True" if ready else "False", "lastTransitionTime": now()},
                                          {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now()}],
                           "containerStatuses": [cs]}}
        if reason:
            body["status"]["reason"] = reason
        md = pod["metadata"]
        self.api.call("PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (md["namespace"], md["name"]), body, "application/merge-patch+json")

    def step(self, pod):
        md, spec, st = pod["metadata"], pod["spec"], pod.get("status", {})
        ns, name, uid = md["namespace"], md["name"], md["uid"]
        if md.get("deletionTimestamp"):
            self.api.call("DELETE", "/api/v1/namespaces/%s/pods/%s" % (ns, name), {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}})
            self.started.pop(uid, None)
            self.seen.pop(uid, None)
            return
        phase = st.get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            return
        env = self.env(pod)
        is_job = any(o.get("kind") == "Job" for o in md.get("ownerReferences", []))
        outcome = env.get("TEST_OUTCOME") or ("succeed" if is_job else "run")
        with self.lock:
            self.logs[(ns, name)] = env.get("TEST_LOG") or "%s ran on %s\n" % (name, spec.get("nodeName"))
        if outcome == "image-pull":
            if phase == "Pending" and not st.get("containerStatuses"):
                self.status(pod, "Pending", {"waiting": {"reason": "ImagePullBackOff",
                                                         "message": 'Back-off pulling image "%s"' % spec["containers"][0].get("image", "")}})
            return
        if outcome == "config-error":
            if not st.get("containerStatuses"):
                self.status(pod, "Pending", {"waiting": {"reason": "CreateContainerConfigError", "message": 'secret "missing" not found'}})
            return
        if uid not in self.started and time.time() - self.seen.setdefault(uid, time.time()) < float(env.get("TEST_PULL_SECONDS", "0")):
            if not st.get("containerStatuses"):
                self.status(pod, "Pending", {"waiting": {"reason": "ContainerCreating"}})
            return
        if uid not in self.started:
            # The container's start as the pod says it (a restarted agent takes it from there).
            running = ((st.get("containerStatuses") or [{}])[0].get("state") or {}).get("running") or {}
            began = running.get("startedAt") or now()
            self.started[uid] = (parse_time(began) if running.get("startedAt") else time.time(), began)
            if not running.get("startedAt"):
                self.status(pod, "Running", {"running": {"startedAt": began}}, ready=True)
                return
        began_at, began = self.started[uid]
        if outcome == "run" or time.time() - began_at < float(env.get("TEST_SECONDS", "2")):
            return
        ended = {"startedAt": began, "finishedAt": now()}
        if outcome == "succeed":
            self.status(pod, "Succeeded", {"terminated": dict(exitCode=0, reason="Completed", **ended)})
        elif outcome == "oom":
            self.status(pod, "Failed", {"terminated": dict(exitCode=137, reason="OOMKilled", **ended)})
        elif outcome.startswith("fail:"):
            self.status(pod, "Failed", {"terminated": dict(exitCode=int(outcome[5:]), reason="Error", **ended)})

    def loop(self):
        last_beat = 0.0
        while True:
            if time.time() - last_beat > 10:
                for n in self.nodes.values():
                    self.heartbeat(n)
                last_beat = time.time()
            s, o = self.api.call("GET", "/api/v1/pods")
            if s == 200:
                for pod in o.get("items", []):
                    if pod["spec"].get("nodeName") in self.nodes:
                        try:
                            self.step(pod)
                        except Exception as e:  # one odd pod must not stop the others
                            print("node agent: %s/%s: %r" % (pod["metadata"].get("namespace"), pod["metadata"].get("name"), e), flush=True)
            time.sleep(0.2)

    # --- logs, served to the API server as a kubelet does
    def serve(self):
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urllib.parse.urlparse(self.path).path.strip("/").split("/")
                if len(parts) >= 3 and parts[0] == "containerLogs":
                    with agent.lock:
                        text = agent.logs.get((parts[1], parts[2]))
                    if text is not None:
                        data = text.encode()
                        self.send_response(200)
                        self.send_header("Content-Type", "text/plain")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args):
                pass

        for node in self.nodes:
            # One kubelet port per node, each a free one (the API server finds it in the node's status).
            httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            self.ports[node] = httpd.server_address[1]
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert, self.key)
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
            threading.Thread(target=httpd.serve_forever, daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--nodes", help="JSON list of nodes (default: gpu-a, gpu-b with 8 GPUs; cpu-a, cpu-b)")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    a = p.parse_args()
    nodes = json.loads(a.nodes) if a.nodes else DEFAULT_NODES
    agent = Agent(API(a.server, a.token), nodes, a.cert, a.key)
    agent.serve()
    agent.register()
    print("node agent: %d nodes ready: %s" % (len(nodes), ", ".join(n["name"] for n in nodes)), flush=True)
    agent.loop()


if __name__ == "__main__":
    main()
