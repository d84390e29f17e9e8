#!/usr/bin/env python3
"""What CloudFormation will judge, checked before it does: runs the SAM translator over a
template (with dummy parameter values) and refuses the result when

- its resources depend on each other in a cycle ("Circular dependency between resources"),
  named resource by resource;
- a Ref, Fn::GetAtt or Fn::Sub names a resource, attribute owner or parameter that does not
  exist;
- a function's Environment carries a secret: a `{{resolve:...}}` dynamic reference (resolved
  into the function's configuration in plain text) or a variable named like one of the shop
  secret's keys.

cfn-lint and `sam validate --lint` look at the template before the transform, where the edges
the transform adds (an HTTP API's integrations with its functions, a function's role and
permissions) are not yet there; this looks after it.

Usage: transformed_template.py TEMPLATE [TEMPLATE...]; exits 1 naming every problem.
Runs with the lint virtualenv's Python (aws-sam-cli brings the translator and the YAML loader).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any, Iterator

from graphs import cycles

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# The translator warns of usage metrics it was never asked to publish.
logging.getLogger("samtranslator").setLevel(logging.ERROR)

from samcli.yamlhelper import yaml_parse  # noqa: E402
from samtranslator.translator.arn_generator import ArnGenerator  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402

PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}

# The shop secret's keys (README "Deploy to AWS"): none may be a function's environment variable.
SECRET_NAME = re.compile(r"(SECRET|PRIVATE_KEY|APIV3_KEY|SALT|AES_KEY)$|^KUAIDI100_KEY$")

SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


class NoManagedPolicies:
    """The translator asks IAM for the managed policies' ARNs only when a function names one by
    name; ours write their statements inline, so none is needed and none is fetched."""

    def load(self) -> dict[str, str]:
        return {}


def dummy_value(name: str, spec: dict[str, Any]) -> Any:
    """A value the parameter's own constraints accept, so the transform sees a deployable input."""
    if "Default" in spec:
        return spec["Default"]
    if spec.get("AllowedValues"):
        return spec["AllowedValues"][0]
    if spec.get("Type") == "Number":
        return str(spec.get("MinValue", 1))
    pattern = spec.get("AllowedPattern", "")
    for candidate in (
        "wx0123456789abcdef",
        "1230000109",
        "https://shop.example.com",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:wechat-shop-AbCdEf",
        "dummy",
    ):
        if not pattern or re.fullmatch(pattern, candidate):
            return candidate
    raise SystemExit(f"parameter {name}: no dummy value matches its AllowedPattern {pattern}")


def transformed(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    ArnGenerator.BOTO_SESSION_REGION_NAME = os.environ["AWS_DEFAULT_REGION"]
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            # What `sam package` does: the code becomes an S3 object.
            resource.setdefault("Properties", {})["CodeUri"] = f"s3://artifacts/{logical_id}.zip"
    parameters = {
        name: dummy_value(name, spec) for name, spec in template.get("Parameters", {}).items()
    }
    return transform(template, parameters, NoManagedPolicies())


def references(node: Any) -> Iterator[tuple[str, str, str | None]]:
    """Every (kind, name, attribute) a node refers to: Ref, Fn::GetAtt and each ${...} of Fn::Sub."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield ("Ref", value, None)
            elif key == "Fn::GetAtt":
                if isinstance(value, str):
                    value = value.split(".", 1)
                if isinstance(value, list) and value and isinstance(value[0], str):
                    attribute = value[1] if len(value) > 1 and isinstance(value[1], str) else None
                    yield ("Fn::GetAtt", value[0], attribute)
                yield from references(value)
            elif key == "Fn::Sub":
                text, local = (value, {}) if isinstance(value, str) else (value[0], value[1])
                for variable in SUB_VARIABLE.findall(text):
                    name, _, attribute = variable.partition(".")
                    if variable not in local and name not in local:
                        yield ("Fn::Sub", name, attribute or None)
                yield from references(local)
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def dependencies(resources: dict[str, Any]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in resources}
    for name, resource in resources.items():
        for _, target, _ in references(resource):
            if target in resources:
                graph[name].add(target)
        depends_on = resource.get("DependsOn", [])
        for target in [depends_on] if isinstance(depends_on, str) else depends_on:
            if target in resources:
                graph[name].add(target)
    return graph


def problems(template: dict[str, Any]) -> list[str]:
    resources = template.get("Resources", {})
    parameters = set(template.get("Parameters", {}))
    found = [
        "dependency cycle: " + " -> ".join(cycle) for cycle in cycles(dependencies(resources))
    ]
    sections = {"Resources": resources, "Outputs": template.get("Outputs", {})}
    for section, entries in sections.items():
        for name, entry in entries.items():
            for kind, target, attribute in references(entry):
                if kind == "Fn::GetAtt" or (kind == "Fn::Sub" and attribute):
                    if target not in resources:
                        found.append(
                            f"{section}.{name}: {kind} {target}.{attribute} names no resource"
                        )
                elif target not in resources and target not in parameters | PSEUDO_PARAMETERS:
                    found.append(f"{section}.{name}: {kind} {target} names nothing that exists")
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        for variable, value in variables.items():
            if SECRET_NAME.search(variable):
                found.append(
                    f"{name}: environment variable {variable} is a secret: read it from "
                    "SHOP_SECRET_ARN at cold start instead"
                )
            if "{{resolve:" in repr(value):
                found.append(
                    f"{name}: environment variable {variable} resolves a dynamic reference into "
                    "the function's configuration in plain text"
                )
    return sorted(set(found), key=found.index)


def main(paths: list[str]) -> int:
    failed = False
    for path in paths:
        found = problems(transformed(path))
        for problem in found:
            print(f"{path}: {problem}", file=sys.stderr)
        if found:
            failed = True
        else:
            print(f"{path}: transformed, no dependency cycle, every reference resolves, no secret in an Environment")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1:]))
