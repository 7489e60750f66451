"""Reading a SAM or CloudFormation template into a :class:`~.model.Stack`.

1. The YAML (or JSON) is read with CloudFormation's short tags (``!Ref``,
   ``!Sub``, ``!GetAtt``, ...) as the SAM translator reads them.
2. A template with ``Transform: AWS::Serverless-2016-10-31`` goes through
   the official SAM translator (``aws-sam-translator``), offline: a fixed
   region and account, the translator's bundled managed-policy map, and a
   local ``CodeUri`` folder carried through as a placeholder S3 location.
3. Parameters get their defaults and ``--parameter-overrides``, checked
   against their constraints (a ``NoEcho`` value never appears in a message).
4. Functions, function URLs, REST API methods and Outputs are resolved with
   :class:`~.intrinsics.Resolver`. What a local run cannot know is a
   :class:`TemplateError` naming the resource and the property.

``docs/template.md`` describes what is supported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from lstream_cli._exitcodes import UsageError
from lstream_cli.stack.intrinsics import Resolver, Unresolvable
from lstream_cli.stack.model import (
    AuthType,
    FunctionSpec,
    FunctionUrlSpec,
    InvokeMode,
    Output,
    RestApiSpec,
    RouteSpec,
    Stack,
    TransferMode,
)

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_REGION",
    "TemplateError",
    "load_stack",
    "parse_overrides",
    "read_template",
]

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_CODE_BUCKET = "lstream-local-code"  # placeholder for a local CodeUri while translating
_INSTALL_HINT = "pip install 'lstream[template]'"
_RUNTIMES = re.compile(r"^(nodejs\d+\.x|provided(\.al\d+)?)$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PARAM = re.compile(r"^[A-Za-z0-9]+$")
# Resource types a local run uses, or that change nothing it does (roles, permissions).
_LOCAL_TYPES = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::Lambda::Url",
        "AWS::Lambda::Alias",
        "AWS::Lambda::Version",
        "AWS::Lambda::Permission",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGateway::Account",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::Logs::LogGroup",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
    }
)


class TemplateError(UsageError):
    """A template a local run cannot use (exit 2): the message names where and why."""


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """``--parameter-overrides K=V ...`` (also ``ParameterKey=K,ParameterValue=V``)."""
    out: dict[str, str] = {}
    for item in items:
        key, value = _one_override(item)
        out[key] = value
    return out


def _one_override(item: str) -> tuple[str, str]:
    if item.startswith("ParameterKey="):
        match = re.fullmatch(r"ParameterKey=([^,]*),ParameterValue=(.*)", item, re.DOTALL)
        if match:
            return _checked_key(match.group(1)), match.group(2)
    key, sep, value = item.partition("=")
    if not sep:
        # The text is never echoed: it may be a secret typed without its name.
        raise UsageError("--parameter-overrides: each item is NAME=VALUE")
    return _checked_key(key), value


def _checked_key(key: str) -> str:
    if not _PARAM.match(key):
        raise UsageError("--parameter-overrides: a parameter name is letters and digits only")
    return key


# --- reading ----------------------------------------------------------------


def _loader() -> type[yaml.SafeLoader]:
    try:
        from samtranslator.yaml_helper import intrinsics_multi_constructor
    except ImportError:
        raise UsageError(
            f"--template needs the AWS SAM translator (aws-sam-translator): {_INSTALL_HINT}"
        ) from None

    class Loader(yaml.SafeLoader):
        """SafeLoader plus CloudFormation's short tags, on this class only."""

    Loader.add_multi_constructor("!", intrinsics_multi_constructor)
    return Loader


def read_template(path: Path) -> dict[str, Any]:
    """The template as data (short tags become their ``Fn::`` forms)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"--template: cannot read {path}: {reason}") from None
    try:
        data = yaml.load(text, Loader=_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"--template: {path.name} is not valid YAML or JSON{where}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise UsageError(f"--template: {path.name} has no Resources section")
    return data


# --- the SAM transform ------------------------------------------------------


def _transforms(template: Mapping[str, Any]) -> list[str]:
    value = template.get("Transform", [])
    names = value if isinstance(value, list) else [value]
    return [str(n) for n in names]


def _carry_code_uris(template: dict[str, Any]) -> None:
    """Local ``CodeUri`` folders as placeholder S3 locations the translator accepts."""
    places: list[dict[str, Any]] = []
    function_globals = template.get("Globals", {}).get("Function")
    if isinstance(function_globals, dict):
        places.append(function_globals)
    for resource in template["Resources"].values():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function":
            props = resource.get("Properties")
            if isinstance(props, dict):
                places.append(props)
    for props in places:
        uri = props.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props["CodeUri"] = f"s3://{_CODE_BUCKET}/{uri or '.'}"


def _sam_translate(
    name: str, template: dict[str, Any], parameters: Mapping[str, str], pseudo: Mapping[str, str]
) -> dict[str, Any]:
    try:
        import boto3
        from samtranslator.model.exceptions import (
            ExceptionWithMessage,
            InvalidDocumentException,
        )
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
    except ImportError:
        raise UsageError(
            f"--template: a SAM template needs the AWS SAM translator: {_INSTALL_HINT}"
        ) from None
    # The translator logs metrics warnings; with no handler Python would print them.
    sam_log = logging.getLogger("samtranslator")
    if not sam_log.handlers:
        sam_log.addHandler(logging.NullHandler())
    _carry_code_uris(template)
    # A session with a fixed region: nothing is looked up (no network, no metadata).
    session = boto3.session.Session(region_name=pseudo["AWS::Region"])
    translator = Translator(None, Parser(), boto_session=session)
    values: dict[str, Any] = {**parameters, **pseudo}
    try:
        out: dict[str, Any] = translator.translate(
            template, parameter_values=values, get_managed_policy_map=dict
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(c.message for c in exc.causes)
        raise TemplateError(f"{name}: the SAM transform failed: {causes}") from None
    except ExceptionWithMessage as exc:
        raise TemplateError(f"{name}: the SAM transform failed: {exc.message}") from None
    return out


# --- parameters -------------------------------------------------------------


def _parameters(
    declared: Mapping[str, Any], overrides: Mapping[str, str]
) -> tuple[dict[str, Any], frozenset[str]]:
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise UsageError(f"--parameter-overrides: the template has no parameter {unknown[0]}")
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if str(spec.get("NoEcho", "false")).lower() == "true":
            secret.add(name)
        if name in overrides:
            raw: Any = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise UsageError(
                f"parameter {name} has no default: pass --parameter-overrides {name}=VALUE"
            )
        values[name] = _typed(name, spec, raw, name in secret)
    return values, frozenset(secret)


def _typed(name: str, spec: Mapping[str, Any], raw: Any, secret: bool) -> Any:
    ptype = str(spec.get("Type", "String"))
    text = raw if isinstance(raw, str) else _cfn_str(raw)
    shown = "its value" if secret else repr(text)
    if ptype.startswith("AWS::SSM::Parameter"):
        raise UsageError(f"parameter {name}: {ptype} (read from SSM) is not resolved locally")
    if ptype == "Number":
        try:
            number = float(text)
        except ValueError:
            raise UsageError(f"parameter {name}: {shown} is not a Number") from None
        for key, ok in (
            ("MinValue", number >= _num(spec, "MinValue")),
            ("MaxValue", number <= _num(spec, "MaxValue")),
        ):
            if key in spec and not ok:
                raise UsageError(f"parameter {name}: {shown} is outside its {key} {spec[key]}")
    if ptype.startswith("List<") or ptype == "CommaDelimitedList":
        items = [] if text == "" else [x.strip() for x in text.split(",")]
        return items
    allowed = spec.get("AllowedValues")
    if isinstance(allowed, list) and text not in [_cfn_str(a) for a in allowed]:
        raise UsageError(f"parameter {name}: {shown} is not one of its AllowedValues")
    pattern = spec.get("AllowedPattern")
    if isinstance(pattern, str) and not re.fullmatch(pattern, text):
        raise UsageError(f"parameter {name}: {shown} does not match its AllowedPattern")
    if "MinLength" in spec and len(text) < _num(spec, "MinLength"):
        raise UsageError(
            f"parameter {name}: {shown} is shorter than its MinLength {spec['MinLength']}"
        )
    if "MaxLength" in spec and len(text) > _num(spec, "MaxLength"):
        raise UsageError(
            f"parameter {name}: {shown} is longer than its MaxLength {spec['MaxLength']}"
        )
    return text


def _num(spec: Mapping[str, Any], key: str) -> float:
    try:
        return float(spec[key])
    except (TypeError, ValueError):
        raise UsageError(f"template: {key} must be a number") from None


def _cfn_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- the stack --------------------------------------------------------------


class _Builder:
    """Resolves the resources a local run uses, one property at a time."""

    def __init__(
        self,
        path: Path,
        template: Mapping[str, Any],
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, str],
    ) -> None:
        self.path = path
        self.stack_name = pseudo["AWS::StackName"]
        self.region = pseudo["AWS::Region"]
        self.account = pseudo["AWS::AccountId"]
        self.resources: dict[str, dict[str, Any]] = {
            k: v for k, v in template["Resources"].items() if isinstance(v, dict)
        }
        self.resolver = Resolver(
            parameters,
            pseudo,
            template.get("Conditions") or {},
            template.get("Mappings") or {},
            self._ref,
            self._getatt,
        )
        self.template = template

    # Resource values, in the shape they have once deployed.

    def _type(self, lid: str) -> str:
        if lid not in self.resources:
            raise Unresolvable(f"no resource or parameter named {lid!r}")
        return str(self.resources[lid].get("Type", ""))

    def _props(self, lid: str) -> dict[str, Any]:
        props = self.resources[lid].get("Properties")
        return props if isinstance(props, dict) else {}

    def function_name(self, lid: str) -> str:
        name = self._props(lid).get("FunctionName")
        return self.resolver.string(name) if name is not None else f"{self.stack_name}-{lid}"

    def _arn(self, service: str, rest: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{rest}"

    def _ref(self, lid: str) -> Any:
        rtype = self._type(lid)
        props = self._props(lid)
        if rtype == "AWS::Lambda::Function":
            return self.function_name(lid)
        if rtype == "AWS::Lambda::Alias":
            function = self._function_of(lid, props.get("FunctionName"))
            name = self.resolver.string(props.get("Name"))
            return self._arn("lambda", f"function:{self.function_name(function)}:{name}")
        if rtype == "AWS::Lambda::Version":
            function = self._function_of(lid, props.get("FunctionName"))
            return self._arn("lambda", f"function:{self.function_name(function)}:1")
        if rtype in ("AWS::ApiGateway::RestApi",):
            return lid.lower()
        if rtype == "AWS::ApiGateway::Resource":
            return f"resource-{lid}"
        if rtype == "AWS::ApiGateway::Deployment":
            return f"deployment-{lid}"
        if rtype == "AWS::ApiGateway::Stage":
            return self.resolver.string(props.get("StageName"))
        if rtype == "AWS::S3::Bucket":
            bucket = props.get("BucketName")
            if bucket is None:
                return f"{self.stack_name}-{lid}".lower()
            return self.resolver.string(bucket)
        if rtype == "AWS::IAM::Role":
            role = props.get("RoleName")
            return self.resolver.string(role) if role is not None else f"{self.stack_name}-{lid}"
        raise Unresolvable(f"Ref {lid} ({rtype}) is not known locally")

    def _getatt(self, lid: str, attribute: str) -> Any:
        rtype = self._type(lid)
        if rtype == "AWS::Lambda::Url":
            if attribute == "FunctionUrl":
                return f"https://{lid.lower()}.lambda-url.{self.region}.on.aws/"
            if attribute == "FunctionArn":
                return self.resolver.string(self._props(lid).get("TargetFunctionArn"))
        if rtype == "AWS::Lambda::Function" and attribute == "Arn":
            return self._arn("lambda", f"function:{self.function_name(lid)}")
        if rtype == "AWS::Lambda::Version" and attribute == "Version":
            return "1"
        if rtype == "AWS::Lambda::Alias" and attribute == "AliasArn":
            return self._ref(lid)
        if rtype == "AWS::ApiGateway::RestApi" and attribute == "RootResourceId":
            return f"root-{lid}"
        if rtype == "AWS::ApiGateway::RestApi" and attribute == "RestApiId":
            return lid.lower()
        if rtype == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{self.account}:role/{self._ref(lid)}"
        if rtype == "AWS::S3::Bucket":
            bucket = self._ref(lid)
            values = {
                "Arn": f"arn:aws:s3:::{bucket}",
                "DomainName": f"{bucket}.s3.amazonaws.com",
                "RegionalDomainName": f"{bucket}.s3.{self.region}.amazonaws.com",
            }
            if attribute in values:
                return values[attribute]
        raise Unresolvable(f"Fn::GetAtt {lid}.{attribute} ({rtype}) is not known locally")

    def _function_of(self, lid: str, value: Any) -> str:
        """The logical id of the function a name, an ARN or a reference designates."""
        text = self.resolver.string(value)
        name = text.split(":function:", 1)[1].split(":", 1)[0] if ":function:" in text else text
        for fid, res in self.resources.items():
            if res.get("Type") == "AWS::Lambda::Function" and self.function_name(fid) == name:
                return fid
        raise Unresolvable(f"{lid}: no function in the template is named {name!r}")

    # Errors name the resource and the property.

    def fail(self, lid: str, prop: str, reason: str) -> TemplateError:
        return TemplateError(f"{self.path.name}: {lid}: {prop}: {reason}")

    def value(self, lid: str, prop: str, node: Any) -> Any:
        try:
            return self.resolver.resolve(node)
        except Unresolvable as exc:
            raise self.fail(lid, prop, str(exc)) from None

    def string(self, lid: str, prop: str, node: Any) -> str:
        try:
            return self.resolver.string(node)
        except Unresolvable as exc:
            raise self.fail(lid, prop, str(exc)) from None

    def integer(self, lid: str, prop: str, node: Any, default: int) -> int:
        if node is None:
            return default
        text = self.string(lid, prop, node)
        try:
            return int(text)
        except ValueError:
            raise self.fail(lid, prop, f"{text!r} is not a whole number") from None

    def present(self, lid: str) -> bool:
        condition = self.resources[lid].get("Condition")
        if condition is None:
            return True
        try:
            return self.resolver.condition(condition)
        except Unresolvable as exc:
            raise self.fail(lid, "Condition", str(exc)) from None

    def of_type(self, rtype: str) -> list[str]:
        return [
            lid
            for lid, res in self.resources.items()
            if res.get("Type") == rtype and self.present(lid)
        ]

    # --- functions ------------------------------------------------------

    def functions(self) -> list[FunctionSpec]:
        return [self._function(lid) for lid in self.of_type("AWS::Lambda::Function")]

    def _function(self, lid: str) -> FunctionSpec:
        props = self._props(lid)
        if self.string(lid, "PackageType", props.get("PackageType", "Zip")) != "Zip":
            raise self.fail(lid, "PackageType", "container images are not run locally")
        runtime = self.string(lid, "Runtime", props.get("Runtime", ""))
        if not _RUNTIMES.match(runtime):
            raise self.fail(
                lid,
                "Runtime",
                f"{runtime or 'none'} is not run locally (nodejs*.x and provided.* are)",
            )
        handler = props.get("Handler")
        if handler is None and runtime.startswith("nodejs"):
            raise self.fail(lid, "Handler", "a Node.js function needs a Handler")
        env_node = props.get("Environment", {})
        env = self.value(lid, "Environment", env_node)
        variables = env.get("Variables", {}) if isinstance(env, dict) else {}
        if not isinstance(variables, dict):
            raise self.fail(lid, "Environment.Variables", "must be a mapping")
        environment = {}
        for key, value in variables.items():
            if isinstance(value, (dict, list)) or value is None:
                raise self.fail(lid, f"Environment.Variables.{key}", "must be a string")
            environment[str(key)] = _cfn_str(value)
        reserved = props.get("ReservedConcurrentExecutions")
        return FunctionSpec(
            logical_id=lid,
            name=self.function_name(lid),
            runtime=runtime,
            handler=self.string(lid, "Handler", handler) if handler is not None else "",
            code_dir=self._code_dir(lid, props),
            timeout_s=self.integer(lid, "Timeout", props.get("Timeout"), 3),
            memory_mb=self.integer(lid, "MemorySize", props.get("MemorySize"), 128),
            environment=environment,
            reserved_concurrency=(
                None
                if reserved is None
                else self.integer(lid, "ReservedConcurrentExecutions", reserved, 0)
            ),
            reads_buckets=self._readable_buckets(lid, props.get("Role")),
        )

    def _code_dir(self, lid: str, props: Mapping[str, Any]) -> Path:
        code = self.value(lid, "Code", props.get("Code"))
        folder: str | None = None
        if isinstance(code, str):  # `Code: ./folder`, as `aws cloudformation package` reads it
            folder = code
        elif isinstance(code, dict) and code.get("S3Bucket") == _CODE_BUCKET:
            folder = str(code.get("S3Key", "."))
        elif isinstance(code, dict) and "ZipFile" in code:
            raise self.fail(lid, "Code.ZipFile", "inline code is not run locally: use a folder")
        if folder is None:
            raise self.fail(lid, "Code", "code in S3 or an image is not run locally: give a folder")
        path = (self.path.parent / folder).resolve()
        if not path.is_dir():
            raise self.fail(lid, "CodeUri", f"{folder} is not a folder beside the template")
        return path

    def _readable_buckets(self, lid: str, role: Any) -> tuple[str, ...]:
        """Buckets the function's role lets it read (``s3:GetObject`` on ``BUCKET/...``)."""
        if not (isinstance(role, dict) and "Fn::GetAtt" in role):
            return ()
        target = role["Fn::GetAtt"]
        target = target.split(".", 1) if isinstance(target, str) else target
        role_id = target[0] if isinstance(target, list) and target else None
        if role_id not in self.resources or self._type(role_id) != "AWS::IAM::Role":
            return ()
        buckets: list[str] = []
        for policy in self._props(role_id).get("Policies") or []:
            doc = policy.get("PolicyDocument", {}) if isinstance(policy, dict) else {}
            statements = doc.get("Statement", []) if isinstance(doc, dict) else []
            for stmt in statements if isinstance(statements, list) else [statements]:
                if not isinstance(stmt, dict) or stmt.get("Effect") != "Allow":
                    continue
                actions = stmt.get("Action", [])
                actions = actions if isinstance(actions, list) else [actions]
                if not any(a in ("s3:GetObject", "s3:Get*", "s3:*") for a in actions):
                    continue
                resources = stmt.get("Resource", [])
                for res in resources if isinstance(resources, list) else [resources]:
                    try:
                        arn = self.resolver.string(res)
                    except Unresolvable:
                        continue  # a policy a local run does not need
                    match = re.match(r"arn:[^:]*:s3:::([^/*]+)/", arn)
                    if match and match.group(1) not in buckets:
                        buckets.append(match.group(1))
        return tuple(buckets)

    # --- function URLs --------------------------------------------------

    def urls(self) -> list[FunctionUrlSpec]:
        return [self._url(lid) for lid in self.of_type("AWS::Lambda::Url")]

    def _url(self, lid: str) -> FunctionUrlSpec:
        props = self._props(lid)
        target = self.string(lid, "TargetFunctionArn", props.get("TargetFunctionArn"))
        try:
            function = self._function_of(lid, target)
        except Unresolvable as exc:
            raise self.fail(lid, "TargetFunctionArn", str(exc)) from None
        qualifier: str | None = None
        rest = target.split(":function:", 1)[1] if ":function:" in target else ""
        if ":" in rest:
            qualifier = rest.split(":", 1)[1]
        if props.get("Qualifier") is not None:
            qualifier = self.string(lid, "Qualifier", props["Qualifier"])
        auth = self.string(lid, "AuthType", props.get("AuthType"))
        if auth not in ("AWS_IAM", "NONE"):
            raise self.fail(lid, "AuthType", f"{auth!r} is not AWS_IAM or NONE")
        mode = self.string(lid, "InvokeMode", props.get("InvokeMode", "BUFFERED"))
        if mode not in ("RESPONSE_STREAM", "BUFFERED"):
            raise self.fail(lid, "InvokeMode", f"{mode!r} is not RESPONSE_STREAM or BUFFERED")
        auth_type: AuthType = "AWS_IAM" if auth == "AWS_IAM" else "NONE"
        invoke_mode: InvokeMode = "RESPONSE_STREAM" if mode == "RESPONSE_STREAM" else "BUFFERED"
        return FunctionUrlSpec(
            logical_id=lid,
            function=function,
            qualifier=qualifier if qualifier not in (None, "$LATEST") else None,
            auth_type=auth_type,
            invoke_mode=invoke_mode,
            url=self._getatt(lid, "FunctionUrl"),
        )

    # --- REST APIs ------------------------------------------------------

    def apis(self) -> list[RestApiSpec]:
        apis = self.of_type("AWS::ApiGateway::RestApi")
        by_id = {lid.lower(): lid for lid in apis}
        stages: dict[str, list[str]] = {lid: [] for lid in apis}
        routes: dict[str, list[RouteSpec]] = {lid: [] for lid in apis}
        for rtype in ("AWS::ApiGateway::Stage", "AWS::ApiGateway::Deployment"):
            for sid in self.of_type(rtype):
                props = self._props(sid)
                if props.get("StageName") is None:
                    continue
                api = by_id.get(self.string(sid, "RestApiId", props.get("RestApiId")))
                stage = self.string(sid, "StageName", props["StageName"])
                if api is not None and stage not in stages[api]:
                    stages[api].append(stage)
        for mid in self.of_type("AWS::ApiGateway::Method"):
            props = self._props(mid)
            api = by_id.get(self.string(mid, "RestApiId", props.get("RestApiId")))
            if api is not None:
                routes[api].append(self._route(mid, api, props))
        out = []
        for lid in apis:
            props = self._props(lid)
            if props.get("Body") is not None or props.get("BodyS3Location") is not None:
                raise self.fail(
                    lid,
                    "Body",
                    "an OpenAPI body is not run locally (declare Resources and Methods)",
                )
            if not stages[lid]:
                raise self.fail(lid, "Stage", "no stage: add an AWS::ApiGateway::Stage")
            name = props.get("Name")
            out.append(
                RestApiSpec(
                    logical_id=lid,
                    api_id=lid.lower(),
                    name=self.string(lid, "Name", name) if name is not None else lid,
                    stages=tuple(stages[lid]),
                    routes=tuple(routes[lid]),
                )
            )
        return out

    def _resource_path(self, mid: str, api: str, resource_id: str) -> str:
        parts: list[str] = []
        seen: set[str] = set()
        current = resource_id
        while current != f"root-{api}":
            lid = current.removeprefix("resource-")
            if current in seen or lid not in self.resources or not current.startswith("resource-"):
                raise self.fail(mid, "ResourceId", "not a resource of its RestApi")
            seen.add(current)
            props = self._props(lid)
            parts.append(self.string(lid, "PathPart", props.get("PathPart")))
            current = self.string(lid, "ParentId", props.get("ParentId"))
        return "/" + "/".join(reversed(parts))

    def _route(self, mid: str, api: str, props: Mapping[str, Any]) -> RouteSpec:
        path = self._resource_path(
            mid, api, self.string(mid, "ResourceId", props.get("ResourceId"))
        )
        method = self.string(mid, "HttpMethod", props.get("HttpMethod")).upper()
        authorization = self.string(
            mid, "AuthorizationType", props.get("AuthorizationType", "NONE")
        )
        if authorization != "NONE":
            raise self.fail(
                mid, "AuthorizationType", f"{authorization} is not run locally (NONE is)"
            )
        integration = self.value(mid, "Integration", props.get("Integration") or {})
        if not isinstance(integration, dict):
            raise self.fail(mid, "Integration", "must be a mapping")
        itype = str(integration.get("Type", ""))
        if itype != "HTTP_PROXY":
            raise self.fail(
                mid, "Integration.Type", f"{itype or 'none'} is not run locally (HTTP_PROXY is)"
            )
        uri = integration.get("Uri")
        if not isinstance(uri, str) or not re.match(r"https?://", uri):
            raise self.fail(mid, "Integration.Uri", "must be an http(s) URL")
        static: list[tuple[str, str]] = []
        mapped: list[tuple[str, str]] = []
        params = integration.get("RequestParameters") or {}
        for key, source in params.items():
            prop = f"Integration.RequestParameters.{key}"
            match = re.fullmatch(r"integration\.request\.(header|querystring|path)\.(.+)", key)
            if not match:
                raise self.fail(
                    mid, prop, "not an integration.request.header/querystring/path name"
                )
            location, name = match.groups()
            if not isinstance(source, str):
                raise self.fail(mid, prop, "must be a string")
            if source.startswith("method.request."):
                mapped.append((f"{location}.{name}", source.removeprefix("method.request.")))
            elif len(source) >= 2 and source[0] == source[-1] == "'":
                if location != "header":
                    raise self.fail(mid, prop, "static values are run locally for headers only")
                if not _HEADER_NAME.match(name):
                    raise self.fail(mid, prop, "not a valid header name")
                static.append((name, source[1:-1]))
            elif source.startswith(("context.", "stageVariables.")):
                raise self.fail(mid, prop, f"{source.split('.')[0]} values are not run locally")
            else:
                # The value itself is never shown: it is often a secret.
                raise self.fail(
                    mid,
                    prop,
                    "a static value must be in single quotes (\"'value'\"); "
                    "without them API Gateway reads it as a parameter name",
                )
        mode = str(integration.get("ResponseTransferMode", "BUFFERED"))
        if mode not in ("STREAM", "BUFFERED"):
            raise self.fail(
                mid, "Integration.ResponseTransferMode", f"{mode!r} is not STREAM or BUFFERED"
            )
        transfer: TransferMode = "STREAM" if mode == "STREAM" else "BUFFERED"
        timeout = self.integer(
            mid, "Integration.TimeoutInMillis", integration.get("TimeoutInMillis"), 29_000
        )
        if not 50 <= timeout <= 900_000:
            raise self.fail(mid, "Integration.TimeoutInMillis", "must be 50 to 900000")
        return RouteSpec(
            logical_id=mid,
            path=path,
            http_method=method,
            integration_method=str(integration.get("IntegrationHttpMethod", method)).upper(),
            uri=uri,
            static_headers=tuple(static),
            mapped=tuple(mapped),
            transfer_mode=transfer,
            timeout_ms=timeout,
        )

    def buckets(self) -> list[str]:
        return [
            self.string(lid, "BucketName", {"Ref": lid}) for lid in self.of_type("AWS::S3::Bucket")
        ]

    def not_run(self) -> list[tuple[str, str]]:
        return [
            (lid, str(res.get("Type", "")))
            for lid, res in self.resources.items()
            if res.get("Type") not in _LOCAL_TYPES and self.present(lid)
        ]

    # --- outputs --------------------------------------------------------

    def outputs(self, secrets: Sequence[str]) -> list[Output]:
        out = []
        for name, spec in (self.template.get("Outputs") or {}).items():
            if not isinstance(spec, dict):
                continue
            condition = spec.get("Condition")
            try:
                if condition is not None and not self.resolver.condition(condition):
                    continue
                value = self.resolver.resolve(spec.get("Value"))
            except Unresolvable as exc:
                raise TemplateError(f"{self.path.name}: Outputs: {name}: {exc}") from None
            text = (
                ",".join(_cfn_str(v) for v in value) if isinstance(value, list) else _cfn_str(value)
            )
            secret = any(s and s in text for s in secrets)
            description = spec.get("Description", "")
            out.append(
                Output(name, text, description if isinstance(description, str) else "", secret)
            )
        return out


def load_stack(
    path: str | Path,
    overrides: Mapping[str, str] | None = None,
    *,
    stack_name: str | None = None,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT,
) -> Stack:
    """The resolved stack of the template at ``path`` (TemplateError/UsageError: exit 2)."""
    path = Path(path).resolve()
    template = read_template(path)
    name = stack_name or re.sub(r"[^A-Za-z0-9-]", "-", path.parent.name or "local") or "local"
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::StackName": name,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{name}/local",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::Partition": "aws",
        "AWS::NotificationARNs": "",
    }
    declared = template.get("Parameters") or {}
    parameters, secret = _parameters(declared, overrides or {})
    transforms = _transforms(template)
    if transforms:
        other = [t for t in transforms if t != SAM_TRANSFORM]
        if other:
            raise TemplateError(f"{path.name}: Transform: {other[0]} is not applied locally")
        as_text = {k: (",".join(v) if isinstance(v, list) else v) for k, v in parameters.items()}
        template = _sam_translate(path.name, template, as_text, pseudo)
    builder = _Builder(path, template, parameters, pseudo)
    functions = builder.functions()
    urls = builder.urls()
    apis = builder.apis()
    secrets = [str(parameters[s]) for s in secret]
    outputs = builder.outputs(secrets)
    return Stack(
        template=path,
        stack_name=name,
        region=region,
        account_id=account_id,
        parameters={
            k: (",".join(v) if isinstance(v, list) else str(v)) for k, v in parameters.items()
        },
        secret_parameters=secret,
        functions=tuple(functions),
        urls=tuple(urls),
        apis=tuple(apis),
        outputs=tuple(outputs),
        buckets=tuple(builder.buckets()),
        not_run=tuple(builder.not_run()),
    )
