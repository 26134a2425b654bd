"""Phrase templates: the sandboxed Jinja2 environment they render in, the constructs and variables a template
may use, and the longest text one can produce (the bound `phrases check` and the render both keep)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from assistant.i18n import _

# What `{{ item }}` is when the conversation's product is unknown; with a catalog item it holds its id, title,
# `attrs` and each attribute by name (docs/catalog.md). A lookup a real item may lack needs `| default(…)`.
ITEM_PLACEHOLDER: Mapping[str, Any] = MappingProxyType({"id": "", "title": "这款宝贝", "attrs": MappingProxyType({})})

# Template constructs a phrase may use: text, variables, simple filters and conditions.
_SAFE_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.If, nodes.CondExpr, nodes.Filter,
    nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Concat,
)  # fmt: skip
_SAFE_FILTERS = frozenset({"default", "d", "trim", "upper", "lower", "replace", "truncate", "string"})
# How each filter taking arguments is written, for a template that calls one with the wrong ones.
_FILTER_USAGE: Mapping[str, str] = MappingProxyType(
    {"replace": 'replace("旧", "新")', "truncate": "truncate(20)", "default": 'default("…")', "d": 'd("…")'}
)
# How a refused construct is written, for the line that names it (Jinja's class names said nothing to a shop).
_WRITTEN = {
    "Call": "…()", "For": "{% for %}", "Macro": "{% macro %}", "CallBlock": "{% call %}", "Include": "{% include %}",
    "Import": "{% import %}", "FromImport": "{% from … import %}", "Extends": "{% extends %}", "Block": "{% block %}",
    "Assign": "{% set %}", "AssignBlock": "{% set %}", "With": "{% with %}", "FilterBlock": "{% filter %}",
    "Test": "is …", "List": "[…]", "Dict": "{…: …}", "Tuple": "(…, …)", "Slice": "[…:…]", "Add": "+", "Sub": "-",
    "Mul": "*", "Div": "/", "FloorDiv": "//", "Mod": "%", "Pow": "**", "Neg": "-", "Pos": "+",
}  # fmt: skip
# Look-ups are allowed on the item alone, one level deep: item.title, item["面料"], item.attrs["面料"].
_ITEM_LOOKUPS = (nodes.Getattr, nodes.Getitem)
# A phrase is a chat message: `phrases check` and `import` refuse a template that could render more,
# and rendering stops any filter or operator that would produce more (the sandbox's bound on work).
MAX_RENDERED_CHARS = 2000
MAX_VARIABLE_CHARS = 200  # a value given at render time (customer, product, order …) is cut to this


def _allowed() -> str:
    """What a template may use, for the line refusing something else."""
    filters = "、".join(sorted(_SAFE_FILTERS - {"d"}))
    return _("a template uses only variables, %(condition)s and the filters %(filters)s", condition="{% if %} … {% endif %}", filters=filters)  # fmt: skip


class BoundedSandbox(SandboxedEnvironment):
    """Jinja2's sandbox, with a bound on what one filter or operator may produce (the work of a render)."""

    intercepted_binops = frozenset({"*", "+", "**", "//", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":  # "ab" * 10**9 is refused before it is built
            seq, count = (left, right) if isinstance(left, (str, list)) else (right, left)
            if isinstance(seq, (str, list)) and isinstance(count, int) and len(seq) * count > MAX_RENDERED_CHARS:
                raise SecurityError(f"output over {MAX_RENDERED_CHARS} characters")
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("exponent too large")
        return _sized(super().call_binop(context, operator, left, right))


def _sized(value: Any) -> Any:
    if isinstance(value, (str, list)) and len(value) > MAX_RENDERED_CHARS:
        raise SecurityError(f"output over {MAX_RENDERED_CHARS} characters")
    return value


def _bounded_replace(value: Any, old: Any, new: Any, count: int | None = None) -> str:
    """`replace`, refused before it runs when its result would be over the bound."""
    text, old, new = str(value), str(old), str(new)
    n = text.count(old) if old else len(text) + 1
    if count is not None:
        n = min(n, max(0, count))
    if len(text) + n * (len(new) - len(old)) > MAX_RENDERED_CHARS:
        raise SecurityError(f"replace would make over {MAX_RENDERED_CHARS} characters")
    return text.replace(old, new, -1 if count is None else count)


def _bounded_join(value: Any, separator: str = "", attribute: Any = None) -> str:
    items = [str(v) for v in value]
    return str(_sized(str(separator).join(items[: MAX_RENDERED_CHARS + 1])))


def make_environment() -> SandboxedEnvironment:
    """The sandboxed Jinja2 environment phrases render in (undefined names fail, output bounded)."""
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters["replace"] = _bounded_replace
    env.filters["join"] = _bounded_join
    env.globals.clear()  # range, dict, lipsum, cycler …: not phrase variables (a buyer would read their reprs)
    return env


class PlainText:
    """A phrase without template syntax: rendering it returns its text (no Jinja compile needed)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, *args: Any, **kwargs: Any) -> str:
        return self.text


def check_template(
    env: SandboxedEnvironment, source: str, variables: Mapping[str, str]
) -> tuple[Template | PlainText | None, list[str]]:
    """Compile `source`; return the template (None on failure) and the reasons it is unusable."""
    if not any(mark in source for mark in ("{{", "{%", "{#")):
        if len(source) > MAX_RENDERED_CHARS:
            return None, [_("longer than %(max)s characters", max=MAX_RENDERED_CHARS)]
        return PlainText(source), []
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        return None, [_("template syntax error: %(error)s (line %(line)s)", error=exc.message, line=exc.lineno)]
    reasons: list[str] = []
    for node in ast.find_all(nodes.Node):
        if isinstance(node, _ITEM_LOOKUPS):
            if not _item_lookup(node):
                reasons.append(_('unsafe template construct: only item.<name> and item["<name>"] may be looked up'))
        elif not isinstance(node, _SAFE_NODES):
            construct = _WRITTEN.get(type(node).__name__, type(node).__name__)
            reasons.append(_("unsafe template construct: %(construct)s (%(allowed)s)", construct=construct, allowed=_allowed()))  # fmt: skip
        elif isinstance(node, nodes.Filter) and node.name not in _SAFE_FILTERS:
            reasons.append(_("unsafe template filter: %(filter)s (%(allowed)s)", filter=node.name, allowed=_allowed()))
        elif isinstance(node, nodes.Name) and node.ctx != "load":
            reasons.append(_("unsafe template construct: assignment to %(name)s", name=node.name))
    if whole := _whole_item(ast):
        reasons.append(_('%(expr)s writes out the whole item: write item.title, item.id or item["名称"] | default("…")', expr=whole))  # fmt: skip
    known = sorted({*variables, "item"})
    for name in sorted(meta.find_undeclared_variables(ast) - set(known)):
        if close := difflib.get_close_matches(name, known, n=1, cutoff=0.8):  # {{ shopp }}, {{ fact }}; not range→agent
            reasons.append(_("unknown variable %(name)s (did you mean %(close)s?)", name=repr(name), close=repr(close[0])))  # fmt: skip
        else:
            reasons.append(_("unknown variable %(name)s (the variables: %(known)s)", name=repr(name), known="、".join(known)))  # fmt: skip
    if not reasons:
        limits = {name: max(MAX_VARIABLE_CHARS, len(str(value))) for name, value in variables.items()}
        most = max_length(ast, limits)
        if most > MAX_RENDERED_CHARS:
            reasons.append(_("can render up to %(n)s characters (at most %(max)s)", n=most, max=MAX_RENDERED_CHARS))
    if reasons:
        return None, sorted(set(reasons))
    template = env.from_string(source)
    try:
        template.render({"item": ITEM_PLACEHOLDER, **variables})
    except UndefinedError as exc:
        if "item" in source:
            return None, [
                _('cannot render: %(error)s (an item may lack it: write item["名称"] | default("…"))', error=exc)
            ]
        return None, [_("cannot render: %(error)s", error=exc)]
    except TypeError as exc:  # Python's words about our own functions (`_bounded_replace() missing 1 required …`)
        used = sorted({node.name for node in ast.find_all(nodes.Filter) if node.name in _FILTER_USAGE})
        if used:
            usage = "、".join(_FILTER_USAGE[name] for name in used)
            return None, [_("cannot render: a filter is given the wrong arguments: write %(usage)s", usage=usage)]
        return None, [_("cannot render: %(error)s", error=exc)]
    except Exception as exc:
        return None, [_("cannot render: %(error)s", error=exc)]
    return template, []


def uses_item(env: SandboxedEnvironment, source: str) -> bool:
    """Whether a phrase's text refers to `item` (it is rendered again once the conversation's item is known)."""
    if "item" not in source:
        return False
    return "item" in meta.find_undeclared_variables(env.parse(source))


def _item_lookup(node: nodes.Node) -> bool:
    """item.x, item["x"], item.attrs.x or item.attrs["x"] with a constant name: nothing else is looked up."""
    if isinstance(node, nodes.Getitem) and not (isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str)):
        return False
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return False
    inner = node.node  # type: ignore[attr-defined]
    if isinstance(inner, nodes.Name):
        return inner.name == "item"
    return (
        isinstance(inner, nodes.Getattr)
        and inner.attr == "attrs"
        and isinstance(inner.node, nodes.Name)
        and inner.node.name == "item"
    )


def _whole_item(ast: nodes.Template) -> str | None:
    """`{{ item }}` or `{{ item.attrs }}` written out (the buyer read the item's dict), else None."""
    for output in ast.find_all(nodes.Output):
        for value in (v for expr in output.nodes for v in _printed(expr)):
            if isinstance(value, nodes.Name) and value.name == "item":
                return "{{ item }}"
            if isinstance(value, nodes.Getattr) and value.attr == "attrs" and isinstance(value.node, nodes.Name):
                if value.node.name == "item":
                    return "{{ item.attrs }}"
    return None


def _printed(expr: nodes.Node) -> list[nodes.Node]:
    """The expressions whose values an output prints: through filters, both arms of `a if c else b`, concatenations."""
    if isinstance(expr, nodes.Filter) and expr.node is not None:
        return _printed(expr.node)
    if isinstance(expr, nodes.CondExpr):
        return [*_printed(expr.expr1), *(_printed(expr.expr2) if expr.expr2 is not None else [])]
    if isinstance(expr, nodes.Concat):
        return [v for n in expr.nodes for v in _printed(n)]
    return [expr]


def cut_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item with every value cut to MAX_VARIABLE_CHARS, as other variables are (the render bound)."""
    cut: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, Mapping):
            cut[key] = {k: str(v)[:MAX_VARIABLE_CHARS] for k, v in value.items()}
        else:
            cut[key] = str(value)[:MAX_VARIABLE_CHARS]
    return cut


def max_length(node: nodes.Node, limits: Mapping[str, int]) -> int:
    """An upper bound on the characters `node` renders, given each variable's longest value."""

    def most(n: nodes.Node | None) -> int:
        return 0 if n is None else max_length(n, limits)

    def total(body: Sequence[nodes.Node]) -> int:
        return sum(most(n) for n in body)

    if isinstance(node, nodes.Template | nodes.Output):
        return total(node.body if isinstance(node, nodes.Template) else node.nodes)
    if isinstance(node, nodes.TemplateData):
        return len(node.data)
    if isinstance(node, nodes.Const):
        return len(str(node.value))
    if isinstance(node, nodes.Name):
        return limits.get(node.name, MAX_VARIABLE_CHARS)
    if isinstance(node, nodes.Concat):
        return total(node.nodes)
    if isinstance(node, nodes.CondExpr):
        return max(most(node.expr1), most(node.expr2))
    if isinstance(node, nodes.If):
        return max([total(node.body), total(node.else_), *(most(n) for n in node.elif_)])
    if isinstance(node, nodes.And | nodes.Or):
        return max(most(node.left), most(node.right), 5)
    if isinstance(node, nodes.Filter):
        return _filter_length(node, most)
    if isinstance(node, _ITEM_LOOKUPS):
        return MAX_VARIABLE_CHARS  # an item's values are cut like other variables
    return 5  # a comparison or a negation: True / False


def _filter_length(node: nodes.Filter, most: Any) -> int:
    base = most(node.node)
    args = list(node.args)
    if node.name in ("upper", "lower"):
        return 3 * base  # a few characters change case into three ("ﬃ" → "FFI")
    if node.name in ("default", "d"):
        return max(base, most(args[0]) if args else 0)
    if node.name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        new_len = most(new)
        if isinstance(old, nodes.Const) and str(old.value):
            return base + (base // len(str(old.value))) * max(0, new_len - len(str(old.value)))
        return base + (base + 1) * new_len
    return base  # trim, truncate, string: never longer


def visible_length(template: Template | PlainText, variables: Mapping[str, str]) -> int:
    """Characters of the rendered text with every variable empty (what the phrase itself says)."""
    blank_item = {"id": "", "title": "", "attrs": {}}
    try:
        return len(template.render({**{k: "" for k in variables}, "item": blank_item}).strip())
    except Exception:
        return len(template.render({"item": ITEM_PLACEHOLDER, **variables}).strip())
