"""README's "Deploying to AWS" against the template, so the guide cannot drift from what it
deploys: its samconfig.toml example read by the SAM CLI's own config and parameter parsers, each
environment giving every required parameter a value the parameter's constraints accept, and its
parameter table naming each parameter. Run by `make template-check`."""

from __future__ import annotations

import os
import re
import tempfile
import unittest

from samcli.cli.types import CfnParameterOverridesType
from samcli.lib.config.samconfig import SamConfig
from samcli.yamlhelper import yaml_parse

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
ENVIRONMENTS = ("staging", "prod")


def readme() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def deploy_guide() -> str:
    text = readme()
    start = text.index("## Deploying to AWS\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def block_after(marker: str, language: str) -> str:
    guide = deploy_guide()
    at = guide.index(marker)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(guide, at)
    assert match, f"no ```{language} block after {marker}"
    return match.group(1)


def parameters() -> dict:
    with open(os.path.join(ROOT, "template.yaml"), encoding="utf-8") as f:
        return yaml_parse(f.read())["Parameters"]


def accepted(spec: dict, value: str) -> str | None:
    """Why CloudFormation would refuse `value` for the parameter, or None."""
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "is not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"is under {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"is over {spec['MaxValue']}"
    allowed = spec.get("AllowedValues")
    if allowed and value not in [str(v) for v in allowed]:
        return f"is not one of {allowed}"
    pattern = spec.get("AllowedPattern")
    if pattern and not re.fullmatch(pattern, value):
        return f"does not match {pattern}"
    return None


class DeployGuideTest(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = tempfile.TemporaryDirectory()
        with open(os.path.join(self.directory.name, "samconfig.toml"), "w", encoding="utf-8") as f:
            f.write(block_after("<!-- samconfig.toml", "toml"))
        self.config = SamConfig(self.directory.name, "samconfig.toml")

    def tearDown(self) -> None:
        self.directory.cleanup()

    def test_each_environment_gives_every_required_parameter_an_acceptable_value(self):
        specs = parameters()
        required = {name for name, spec in specs.items() if "Default" not in spec}
        for env in ENVIRONMENTS:
            deploy = self.config.get_all(["deploy"], "parameters", env=env)
            self.assertTrue(deploy, f"[{env}.deploy.parameters] is missing")
            overrides = CfnParameterOverridesType().convert(
                deploy["parameter_overrides"], None, None
            )
            self.assertEqual(set(overrides) - set(specs), set(), f"{env}: unknown parameters")
            self.assertEqual(required - set(overrides), set(), f"{env}: required parameters missing")
            for name, value in overrides.items():
                self.assertIsNone(accepted(specs[name], value), f"{env}: {name}={value}")
            self.assertIn("CAPABILITY_IAM", deploy["capabilities"], f"{env}: the functions' roles")
            self.assertTrue(deploy["stack_name"], env)
            self.assertTrue(deploy.get("resolve_s3") or deploy.get("s3_bucket"), f"{env}: no artifact bucket")

    def test_the_environments_are_separate_stacks_with_separate_secrets(self):
        stacks, secrets = set(), set()
        for env in ENVIRONMENTS:
            deploy = self.config.get_all(["deploy"], "parameters", env=env)
            overrides = CfnParameterOverridesType().convert(
                deploy["parameter_overrides"], None, None
            )
            stacks.add(deploy["stack_name"])
            secrets.add(overrides["ShopSecretArn"])
        self.assertEqual(len(stacks), len(ENVIRONMENTS))
        self.assertEqual(len(secrets), len(ENVIRONMENTS))

    def test_the_parameter_table_explains_each_parameter_once(self):
        guide = deploy_guide()
        # Parameter names are CamelCase; the secret table's keys (with underscores) do not match.
        named = re.findall(r"^\| `([A-Za-z0-9]+)` \|", guide, re.M)
        self.assertEqual(sorted(named), sorted(parameters()), "README parameter table vs template")


if __name__ == "__main__":
    unittest.main()
