# Run inside a local pod by the isolation tests: tries each way a member's workload could reach the control plane's
# secrets or another team's data, and prints one JSON object: {attack: "blocked: <why>" | "ALLOWED: <what>"}.
# Also checks that the pod can still use its own sandbox, so a broken sandbox does not pass as a secure one.
import json, os, signal, sys

targets = json.loads(os.environ["ATTACK_TARGETS"])
out = {}

def attempt(name, fn):
    try:
        what = fn()
        out[name] = "ALLOWED: " + str(what)[:200]
    except Exception as e:  # any refusal counts, with its reason
        out[name] = "blocked: " + type(e).__name__ + ": " + str(e)[:200]

def read(path):
    with open(path, "rb") as f:
        return f.read(4096)

attempt("read credentials file", lambda: read(targets["credentials"]))
attempt("read server environ", lambda: read("/proc/%d/environ" % targets["serverPid"]))
attempt("read server memory map", lambda: read("/proc/%d/maps" % targets["serverPid"]))
attempt("resolve server's open files", lambda: os.readlink("/proc/%d/fd/0" % targets["serverPid"]))
attempt("read server memory", lambda: open("/proc/%d/mem" % targets["serverPid"], "rb").read(1))
attempt("read store", lambda: read(targets["data"] + "/tarmac.db"))
attempt("read store via relative path", lambda: read(os.path.relpath(targets["data"] + "/tarmac.db", os.getcwd())))
attempt("write store", lambda: open(targets["data"] + "/tarmac.db", "ab").write(b"x"))
own = os.environ.get("TARMAC_WORKLOAD_ID", "")

def listing(path, allowed):
    # Seeing one's own path in an otherwise empty view reveals nothing; anything else is a leak.
    names = os.listdir(path)
    extra = [n for n in names if n not in allowed]
    if not extra:
        raise PermissionError("only the pod's own entries are visible: %s" % names)
    return names

attempt("list data directory", lambda: listing(targets["data"], ["pods"]))
attempt("list pods directory", lambda: listing(targets["data"] + "/pods", [own]))
attempt("read other team's launch.json", lambda: read(targets["otherPod"] + "/launch.json"))
attempt("read other team's log", lambda: read(targets["otherPod"] + "/output.log"))
attempt("read other team's work dir", lambda: os.listdir(targets["otherPod"] + "/box/work"))
attempt("read other pod's environ", lambda: read("/proc/%d/environ" % targets["otherPid"]))
attempt("signal the server", lambda: os.kill(targets["serverPid"], 0))
attempt("signal other pod", lambda: os.kill(targets["otherPid"], 0))
attempt("read anchor file", lambda: read(targets["anchors"]))

# What the pod inherited: nothing of the server's environment.
leaked = sorted(k for k in os.environ if k in ("TARMAC_CREDENTIALS", "TARMAC_TOKEN", "SERVER_SECRET"))
out["inherited server variables"] = ("ALLOWED: " + ",".join(leaked)) if leaked else "blocked: none inherited"

# Controls: the pod's own sandbox works.
ok = {}
with open("result.txt", "w") as f:
    f.write("ok")
ok["write cwd"] = read("result.txt") == b"ok"
home = os.environ["HOME"]
with open(os.path.join(home, "h.txt"), "w") as f:
    f.write("ok")
ok["write HOME"] = read(os.path.join(home, "h.txt")) == b"ok"
import tempfile
with tempfile.NamedTemporaryFile() as t:
    t.write(b"ok")
    ok["write TMPDIR"] = True
ok["read system file"] = len(read("/etc/passwd")) > 0
ok["HOME is not the server's"] = home != targets["serverHome"]
out["controls"] = ok
print("ATTACKS " + json.dumps(out, sort_keys=True), flush=True)
