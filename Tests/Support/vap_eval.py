#!/usr/bin/env python3
"""Evaluates ValidatingAdmissionPolicies (and their bindings) against admission requests, as the
kube-apiserver does: match rules, namespace selectors, variables in order, then validations.
Reads {"objects": [...rendered objects...], "cases": [{"name", "object", "user", "namespaceLabels"}]}
as JSON on stdin; prints {"case name": ["denied by POLICY: message", ...]} (empty list: allowed)."""
import json
import re
import sys
from decimal import Decimal

import celpy
from celpy import celtypes

RESOURCES = {"Pod": ("", "pods"), "Job": ("batch", "jobs"), "CronJob": ("batch", "cronjobs"),
             "Deployment": ("apps", "deployments"), "StatefulSet": ("apps", "statefulsets"),
             "ReplicaSet": ("apps", "replicasets"), "DaemonSet": ("apps", "daemonsets")}
SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
          "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("0.001"), "": 1,
          "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


class Quantity(celtypes.StringType):
    """Kubernetes' CEL quantity library: quantity(s), q.compareTo(other)."""


def quantity(s):
    m = re.fullmatch(r"([+-]?[0-9.]+)([A-Za-z]*)", str(s))
    if not m or m.group(2) not in SUFFIX:
        raise ValueError(f"bad quantity {s}")
    return Quantity(str(Decimal(m.group(1)) * Decimal(SUFFIX[m.group(2)])))


def compare_to(a, b):
    x, y = Decimal(str(a)), Decimal(str(b))
    return celtypes.IntType((x > y) - (x < y))


FUNCTIONS = {"quantity": quantity, "compareTo": compare_to}


def evaluate(env, expression, activation):
    return env.program(env.compile(expression), functions=FUNCTIONS).evaluate(activation)


def matches(policy, obj):
    group, resource = RESOURCES[obj["kind"]]
    for rule in policy["spec"]["matchConstraints"]["resourceRules"]:
        if group in rule["apiGroups"] and resource in rule["resources"] and "CREATE" in rule["operations"]:
            return True
    return False


def selected(binding, labels):
    want = binding["spec"].get("matchResources", {}).get("namespaceSelector", {}).get("matchLabels", {})
    return all(labels.get(k) == v for k, v in want.items())


def main():
    data = json.load(sys.stdin)
    policies = {o["metadata"]["name"]: o for o in data["objects"] if o["kind"] == "ValidatingAdmissionPolicy"}
    bindings = [o for o in data["objects"] if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    env = celpy.Environment()
    out = {}
    for case in data["cases"]:
        denials = []
        for binding in bindings:
            policy = policies[binding["spec"]["policyName"]]
            if not matches(policy, case["object"]) or not selected(binding, case["namespaceLabels"]):
                continue
            activation = {"object": celpy.json_to_cel(case["object"]),
                          "request": celpy.json_to_cel({"userInfo": {"username": case["user"]}, "operation": "CREATE"})}
            variables = {}
            for v in policy["spec"].get("variables", []):
                activation["variables"] = celtypes.MapType({celtypes.StringType(k): val for k, val in variables.items()})
                variables[v["name"]] = evaluate(env, v["expression"], activation)
            activation["variables"] = celtypes.MapType({celtypes.StringType(k): val for k, val in variables.items()})
            for validation in policy["spec"]["validations"]:
                result = evaluate(env, validation["expression"], activation)
                if not isinstance(result, celtypes.BoolType):
                    raise SystemExit(f"{policy['metadata']['name']}: expression did not give a bool: {result!r}")
                if not result:
                    denials.append(f"denied by {policy['metadata']['name']}: {validation['message']}")
        out[case["name"]] = denials
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
