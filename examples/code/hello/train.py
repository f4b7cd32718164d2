# A tiny "training" script: run from its own directory, it reads a file next to it and writes a checkpoint report.
import json, os, time, urllib.request

with open("config.json") as f:
    config = json.load(f)
start = int(os.environ.get("TARMAC_RESUME_STEP", "0"))
for step in range(start, config["steps"]):
    print(f"step {step} loss {1 / (step + 1):.3f}", flush=True)
    time.sleep(config["seconds_per_step"])
    # Tell the platform how far it got: a preemption then loses only the work since this step.
    url, token = os.environ.get("TARMAC_CHECKPOINT_URL"), os.environ.get("TARMAC_CHECKPOINT_TOKEN")
    if url and token:
        body = json.dumps({"step": step + 1}).encode()
        urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST",
                               headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"}))
print("done", flush=True)
