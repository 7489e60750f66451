"""CloudFormation's intrinsic functions and conditions, as far as a local run needs them.

:class:`Resolver` turns a template value into plain data: ``Ref`` (parameters,
pseudo parameters, the resources whose reference value a local run can know),
``Fn::Sub`` (both forms), ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Select``,
``Fn::Split``, ``Fn::FindInMap``, ``Fn::If`` and the condition functions
``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``. Anything else raises
:class:`Unresolvable` with the reason; the caller adds the resource and
property it was resolving, so the user reads one line that names both.

Resource values have the shape they have once deployed; :mod:`.template`
says which (``refs``, ``attributes``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["NO_VALUE", "Resolver", "Unresolvable"]

_SUB = re.compile(r"\$\{([^}]*)\}")


class Unresolvable(Exception):
    """A value a local run cannot know (the message says which and why)."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

# Ref -> value for a resource; GetAtt (resource, attribute) -> value.
RefFn = Callable[[str], Any]
AttFn = Callable[[str, str], Any]


class Resolver:
    """Resolves values against one template's parameters, conditions and resources."""

    def __init__(
        self,
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, str],
        conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
        ref: RefFn,
        getatt: AttFn,
    ) -> None:
        self.parameters = parameters
        self.pseudo = pseudo
        self._conditions = conditions
        self._mappings = mappings
        self._ref = ref
        self._getatt = getatt
        self._evaluated: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # --- conditions -------------------------------------------------------

    def condition(self, name: Any) -> bool:
        if not isinstance(name, str):
            raise Unresolvable("a condition name must be a string")
        if name in self._evaluated:
            return self._evaluated[name]
        if name not in self._conditions:
            raise Unresolvable(f"no condition named {name!r}")
        if name in self._evaluating:
            raise Unresolvable(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self._truth(self._conditions[name])
        finally:
            self._evaluating.discard(name)
        self._evaluated[name] = value
        return value

    def _truth(self, node: Any) -> bool:
        if isinstance(node, bool):
            return node
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Equals":
                if not isinstance(arg, list) or len(arg) != 2:
                    raise Unresolvable("Fn::Equals takes a list of two values")
                a, b = (self.resolve(x) for x in arg)
                return _scalar(a) == _scalar(b)
            if fn == "Fn::Not":
                if not isinstance(arg, list) or len(arg) != 1:
                    raise Unresolvable("Fn::Not takes a list of one condition")
                return not self._truth(arg[0])
            if fn in ("Fn::And", "Fn::Or"):
                if not isinstance(arg, list) or not 2 <= len(arg) <= 10:
                    raise Unresolvable(f"{fn} takes a list of 2 to 10 conditions")
                values = [self._truth(x) for x in arg]
                return all(values) if fn == "Fn::And" else any(values)
        raise Unresolvable(f"not a condition: {_short(node)}")

    # --- values -----------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        """``node`` with every intrinsic function applied; ``AWS::NoValue`` entries dropped."""
        if isinstance(node, list):
            items = [self.resolve(x) for x in node]
            return [x for x in items if x is not NO_VALUE]
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                if key == "Ref" or (isinstance(key, str) and key.startswith("Fn::")):
                    return self._function(key, arg)
                if key == "Condition":
                    raise Unresolvable("a Condition is not a value")
            out = {}
            for key, value in node.items():
                resolved = self.resolve(value)
                if resolved is not NO_VALUE:
                    out[key] = resolved
            return out
        return node

    def string(self, node: Any) -> str:
        """``node`` resolved to a string (numbers and booleans as CloudFormation writes them)."""
        value = self.resolve(node)
        if isinstance(value, (list, dict)) or value is NO_VALUE or value is None:
            raise Unresolvable(f"expected a string, got {_short(value)}")
        return _scalar(value)

    def _function(self, fn: str, arg: Any) -> Any:
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Fn::GetAtt":
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            if not isinstance(arg, list) or len(arg) != 2:
                raise Unresolvable("Fn::GetAtt takes [resource, attribute]")
            resource, attribute = arg[0], self.resolve(arg[1])
            if not isinstance(resource, str) or not isinstance(attribute, str):
                raise Unresolvable("Fn::GetAtt takes [resource, attribute]")
            return self._getatt(resource, attribute)
        if fn == "Fn::Sub":
            return self._sub(arg)
        if fn == "Fn::Join":
            if not isinstance(arg, list) or len(arg) != 2:
                raise Unresolvable("Fn::Join takes [delimiter, list]")
            delimiter, items = self.resolve(arg[0]), self.resolve(arg[1])
            if not isinstance(delimiter, str) or not isinstance(items, list):
                raise Unresolvable("Fn::Join takes [delimiter, list]")
            return delimiter.join(self.string(x) for x in items)
        if fn == "Fn::If":
            if not isinstance(arg, list) or len(arg) != 3:
                raise Unresolvable("Fn::If takes [condition, value if true, value if false]")
            return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
        if fn == "Fn::Select":
            if not isinstance(arg, list) or len(arg) != 2:
                raise Unresolvable("Fn::Select takes [index, list]")
            index, items = self.resolve(arg[0]), self.resolve(arg[1])
            try:
                return items[int(index)]
            except (ValueError, TypeError, IndexError, KeyError):
                raise Unresolvable(f"Fn::Select: no item {index!r}") from None
        if fn == "Fn::Split":
            if not isinstance(arg, list) or len(arg) != 2:
                raise Unresolvable("Fn::Split takes [delimiter, string]")
            return self.string(arg[1]).split(self.string(arg[0]))
        if fn == "Fn::FindInMap":
            if not isinstance(arg, list) or len(arg) < 3:
                raise Unresolvable("Fn::FindInMap takes [map, top key, second key]")
            keys = [self.string(x) for x in arg[:3]]
            try:
                return self.resolve(self._mappings[keys[0]][keys[1]][keys[2]])
            except (KeyError, TypeError):
                raise Unresolvable(f"Fn::FindInMap: no entry {'/'.join(keys)}") from None
        raise Unresolvable(f"{fn} is not resolved locally")

    def ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise Unresolvable("Ref takes a name")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name.startswith("AWS::"):
            raise Unresolvable(f"the pseudo parameter {name} is not known locally")
        if name in self.parameters:
            return self.parameters[name]
        return self._ref(name)

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[0], str) or not isinstance(arg[1], dict):
                raise Unresolvable("Fn::Sub takes a string or [string, {name: value}]")
            text, variables = arg[0], {k: self.string(v) for k, v in arg[1].items()}
        elif isinstance(arg, str):
            text, variables = arg, {}
        else:
            raise Unresolvable("Fn::Sub takes a string or [string, {name: value}]")

        def one(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is written as ${Literal}
            if name in variables:
                return variables[name]
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return _scalar(self._getatt(resource, attribute))
            return self.string({"Ref": name})

        return _SUB.sub(one, text)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _short(value: Any) -> str:
    if isinstance(value, dict) and value:
        return f"{next(iter(value))} ..."
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
