"""A second stack, written here: plain CloudFormation, a different Node.js handler.

``AWS::Lambda::Function`` with ``Code: ./fn`` (a folder, as ``aws cloudformation
package`` reads it), an ``AWS::Lambda::Url`` whose InvokeMode comes from a
parameter through a condition, and outputs built with ``Fn::Sub`` and
``Fn::Join``. The handler writes ``?size=N`` bytes of a known pattern (no S3),
its greeting in a header.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: lstream test stack, plain CloudFormation.
Parameters:
  Greeting:
    Type: String
    Default: hello
  Mode:
    Type: String
    AllowedValues: [stream, buffered]
    Default: buffered
  Token:
    Type: String
    NoEcho: true
    Default: not-shown-token-0001
Conditions:
  Streaming: !Equals [!Ref Mode, stream]
  Never: !And [!Condition Streaming, !Not [!Condition Streaming]]
Resources:
  PatternRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  PatternFunction:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: !Join ["-", [!Ref "AWS::StackName", pattern]]
      Runtime: nodejs20.x
      Handler: app.handler
      Code: ./fn
      Timeout: 30
      MemorySize: 256
      Role: !GetAtt PatternRole.Arn
      Environment:
        Variables:
          GREETING: !Sub "${Greeting} from ${AWS::StackName} in ${AWS::Region}"
          PARTITION: !Ref AWS::Partition
          SELF_URL: !GetAtt PatternUrl.FunctionUrl
  PatternUrl:
    Type: AWS::Lambda::Url
    Properties:
      TargetFunctionArn: !GetAtt PatternFunction.Arn
      AuthType: NONE
      InvokeMode: !If [Streaming, RESPONSE_STREAM, BUFFERED]
  Unused:
    Type: AWS::Lambda::Url
    Condition: Never
    Properties:
      TargetFunctionArn: !GetAtt PatternFunction.Arn
      AuthType: NONE
Outputs:
  PatternEndpoint:
    Description: The function URL, with a query string.
    Value: !Sub "${PatternUrl.FunctionUrl}?size=1000&from=${AWS::StackName}"
  PatternBase:
    Value: !GetAtt PatternUrl.FunctionUrl
  FunctionArn:
    Value: !Join ["", ["arn:", !Ref "AWS::Partition", ":lambda:", !Ref "AWS::Region", ":",
                        !Ref "AWS::AccountId", ":function:", !Ref PatternFunction]]
  Mode:
    Value: !If [Streaming, streaming, buffered]
  WithToken:
    Description: Holds the NoEcho parameter's value, so it is masked.
    Value: !Sub "${PatternUrl.FunctionUrl}?token=${Token}"
"""

HANDLER = """\
// Writes ?size=N bytes (default 1000) of the pattern 0,1,...,250,0,1,...
// in chunks of ?chunk=N bytes; its greeting goes in the x-greeting header.
export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const query = event.queryStringParameters ?? {};
  const size = Number(query.size ?? 1000);
  const chunk = Number(query.chunk ?? 65536);
  const out = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 200,
    headers: {
      "content-type": "application/octet-stream",
      "x-greeting": process.env.GREETING ?? "",
      "x-self-url": process.env.SELF_URL ?? "",
    },
  });
  let sent = 0;
  while (sent < size) {
    const n = Math.min(chunk, size - sent);
    const buf = Buffer.alloc(n);
    for (let i = 0; i < n; i++) buf[i] = (sent + i) % 251;
    if (!out.write(buf)) await new Promise((resolve) => out.once("drain", resolve));
    sent += n;
  }
  out.end();
});
"""


def pattern(size: int) -> bytes:
    """The bytes the handler writes for ``?size=size``."""
    return bytes(i % 251 for i in range(size))


def write_stack(root: Path) -> Path:
    """The template and its handler folder under ``root``; returns the template path."""
    (root / "fn").mkdir(parents=True, exist_ok=True)
    (root / "fn" / "app.mjs").write_text(HANDLER)
    (root / "fn" / "package.json").write_text('{"type": "module"}\n')
    path = root / "stack.yaml"
    path.write_text(TEMPLATE)
    return path
