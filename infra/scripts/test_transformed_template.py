"""The transformed-template check on small templates whose problems are known: it must refuse
each, naming what is wrong, and pass a clean one. Run by `make template-check`."""

from __future__ import annotations

import os
import tempfile
import textwrap
import unittest

import transformed_template as check

FUNCTION = """
  {name}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Runtime: provided.al2023
      Handler: bootstrap
      Environment:
        Variables:
{variables}
      Events:
        Route:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: POST
            Path: /v1/{name}
"""


def template(functions: dict[str, str], extra: str = "", parameters: str = "") -> str:
    body = "".join(
        FUNCTION.format(name=name, variables=textwrap.indent(variables.strip(), " " * 10))
        for name, variables in functions.items()
    )
    return (
        'AWSTemplateFormatVersion: "2010-09-09"\n'
        "Transform: AWS::Serverless-2016-10-31\n"
        "Parameters:\n"
        "  PublicBaseUrl:\n"
        "    Type: String\n"
        '    AllowedPattern: "^https://[^/?#]+$"\n'
        f"{parameters}"
        "Resources:\n"
        "  Api:\n"
        "    Type: AWS::Serverless::HttpApi\n"
        f"{body}{extra}"
    )


def problems_of(text: str) -> list[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        return check.problems(check.transformed(f.name))
    finally:
        os.unlink(f.name)


class TransformedTemplateTest(unittest.TestCase):
    def test_a_function_with_routes_that_subs_its_own_api_is_a_cycle_named_resource_by_resource(self):
        # given a function routed on Api whose environment builds a URL from ${Api}
        text = template(
            {
                "Pay": 'NOTIFY_URL: !Sub "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/n"',
                "Browse": "TABLE: plain",
            }
        )
        # when the transformed template is checked
        found = problems_of(text)
        # then the cycle is reported with both resources, and nothing else
        self.assertEqual(found, ["dependency cycle: Api -> Pay -> Api"])

    def test_a_base_url_parameter_breaks_no_edge(self):
        text = template({"Pay": 'NOTIFY_URL: !Sub "${PublicBaseUrl}/v1/pay/notify"'})
        self.assertEqual(problems_of(text), [])

    def test_a_longer_cycle_through_depends_on_is_walked_in_order(self):
        extra = textwrap.dedent(
            """
              Topic:
                Type: AWS::SNS::Topic
                DependsOn: Queue
              Queue:
                Type: AWS::SQS::Queue
                Properties:
                  QueueName: !GetAtt Topic.TopicName
            """
        )
        found = problems_of(template({"Pay": "TABLE: plain"}, textwrap.indent(extra, "  ")))
        self.assertEqual(found, ["dependency cycle: Queue -> Topic -> Queue"])

    def test_references_to_nothing_are_named(self):
        # given a Ref, a GetAtt and a Sub that name nothing in the template
        text = template(
            {
                "Pay": textwrap.dedent(
                    """
                    A: !Ref NoSuchTable
                    B: !GetAtt NoSuchQueue.Arn
                    C: !Sub "${NoSuchParameter}/x"
                    D: !Sub ["${Local}/y", {Local: !Ref AWS::Region}]
                    E: !Sub "${!Literal} ${AWS::StackName}"
                    """
                )
            }
        )
        found = problems_of(text)
        self.assertIn("Resources.Pay: Ref NoSuchTable names nothing that exists", found)
        self.assertIn("Resources.Pay: Fn::GetAtt NoSuchQueue.Arn names no resource", found)
        self.assertIn("Resources.Pay: Fn::Sub NoSuchParameter names nothing that exists", found)
        # a Sub's own variables, escaped ${!...} and pseudo parameters are not references
        self.assertEqual(len(found), 3, found)

    def test_secrets_in_a_functions_environment_are_refused(self):
        text = template(
            {
                "Login": textwrap.dedent(
                    """
                    JWT_SECRET: plain-text
                    TOKEN: "{{resolve:secretsmanager:shop:SecretString:TOKEN}}"
                    SHOP_SECRET_ARN: arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf
                    """
                )
            }
        )
        found = problems_of(text)
        self.assertEqual(len(found), 2, found)
        self.assertTrue(any("JWT_SECRET is a secret" in p for p in found), found)
        self.assertTrue(any("TOKEN resolves a dynamic reference" in p for p in found), found)


if __name__ == "__main__":
    unittest.main()
