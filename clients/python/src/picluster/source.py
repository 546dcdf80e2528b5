"""Turning a Python function (and dispy-style ``depends``) into the source a node runs.

A function is shipped as its source text, as dispy does: it must be defined with ``def`` at the
top level of a module (no lambdas, closures or methods). Modules it uses through global names
(``import math`` at the top of your script, ``from os.path import join``) are imported for it
on the node. Other helpers go in ``depends``: a function or class is shipped in the same
module, a module (or a path to a ``.py`` file) is shipped beside it and imported by name.
"""
from __future__ import annotations

import ast
import dis
import inspect
import os
import re
import sys
import textwrap
import types
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

_MODULE_FILE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\.py$")


class ShippingError(ValueError):
    """The function or a depends entry cannot be shipped as source."""


def _attrs_used(code: types.CodeType) -> Set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _attrs_used(const)
    return names


def _names_used(code: types.CodeType) -> Set[str]:
    """Global names the code (and code nested in it) reads: not attribute names, which share co_names."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(i.argval, str)}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_used(const)
    return names


def _literal(value: Any) -> Optional[str]:
    """repr() of a plain constant that evaluates back to itself, else None."""
    if isinstance(value, (bool, int, float, str, bytes, type(None), tuple, list, dict, frozenset, set)):
        try:
            text = repr(value)
            if ast.literal_eval(text) == value and len(text) <= 64 * 1024:
                return text
        except (ValueError, SyntaxError, RecursionError):
            return None
    return None


def _import_lines(obj: Any, skip: Iterable[str]) -> List[str]:
    """What a function (or a class: its bases and methods) reaches through its module's globals,
    recreated on the node: modules (`import x as name`, with the submodules it uses:
    `urllib.parse`), importable objects (`from m import obj as name`) and plain constants
    (`N = 10`). A helper defined beside it that is not in ``depends`` is a ShippingError naming it."""
    skip = set(skip)
    lines = []
    own_module = getattr(obj, "__module__", None)
    if inspect.isclass(obj):
        g = vars(sys.modules[own_module]) if own_module in sys.modules else {}
        codes = [f.__code__ for f in (getattr(v, "__func__", v) for v in vars(obj).values()) if inspect.isfunction(f)]
        names = {n for n, v in g.items() for b in obj.__bases__ if v is b and b is not object}
        for c in codes:
            names |= _names_used(c)
        attrs = set().union(*(_attrs_used(c) for c in codes)) if codes else set()
    else:
        g = getattr(obj, "__globals__", {})
        names = _names_used(obj.__code__)
        attrs = _attrs_used(obj.__code__)
    fn = obj
    for name in sorted(names):
        if name in skip or name not in g:
            continue
        value = g[name]
        if isinstance(value, types.ModuleType):
            modname: str = value.__name__
            lines.append("import %s" % modname if modname == name else "import %s as %s" % (modname, name))
            lines += ["import %s.%s" % (modname, a) for a in sorted(attrs) if "%s.%s" % (modname, a) in sys.modules]
            continue
        mod: Optional[str] = getattr(value, "__module__", None)
        if (inspect.isfunction(value) or inspect.isclass(value)) and mod in ("__main__", own_module):
            raise ShippingError("%s uses %s, defined beside it: add it to depends=[...] so it is shipped too" % (fn.__name__, name))
        if mod and mod not in ("__main__", own_module) and not mod.startswith("_") and mod in sys.modules:
            real = getattr(value, "__name__", name)
            if getattr(sys.modules[mod], real, None) is value:
                lines.append("from %s import %s" % (mod, real) if real == name else "from %s import %s as %s" % (mod, real, name))
                continue
        text = _literal(value)
        if text is not None:
            lines.append("%s = %s" % (name, text))
            continue
        raise ShippingError("%s uses the global %s (%s), which cannot be shipped; pass it as an argument" % (fn.__name__, name, type(value).__name__))
    return lines


def _def_source(obj: Any, what: str) -> str:
    name = getattr(obj, "__name__", repr(obj))
    if getattr(obj, "__name__", "") == "<lambda>":
        raise ShippingError("%s: a lambda cannot be shipped; define it with def at the top level of a module" % what)
    qual = getattr(obj, "__qualname__", name)
    if qual != name:
        raise ShippingError("%s %s is defined inside %s; only top-level functions and classes can be shipped" % (what, name, qual.rsplit(".", 1)[0]))
    if inspect.isfunction(obj) and obj.__code__.co_freevars:
        raise ShippingError("%s %s closes over %s; pass those as arguments instead" % (what, name, ", ".join(obj.__code__.co_freevars)))
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError) as e:
        raise ShippingError("%s %s: its source is not available (%s); define it in a .py file" % (what, name, e)) from None


def module_dependency(dep: Any) -> Tuple[str, str]:
    """A module object or a path to a .py file → (file name, source)."""
    if isinstance(dep, types.ModuleType):
        if hasattr(dep, "__path__"):
            raise ShippingError("depends: %s is a package; ship single-file modules (packages belong in the node image)" % dep.__name__)
        if "." in dep.__name__:
            raise ShippingError("depends: %s is a submodule; ship top-level modules" % dep.__name__)
        try:
            return dep.__name__ + ".py", inspect.getsource(dep)
        except (OSError, TypeError) as e:
            raise ShippingError("depends: the source of module %s is not available (%s)" % (dep.__name__, e)) from None
    path = os.fspath(dep)
    name = os.path.basename(path)
    if not _MODULE_FILE.match(name):
        raise ShippingError("depends: %r is not a Python module file; data files go in files= (uploaded to the master)" % path)
    with open(path, encoding="utf-8") as f:
        return name, f.read()


def build_python_job(fn: Callable[..., Any], depends: Sequence[Any] = ()) -> Dict[str, Any]:
    """→ the ``source``, ``function`` and ``depends`` fields of a python job."""
    if not (inspect.isfunction(fn)):
        raise ShippingError("submit() takes a function defined with def, or an argv list; got %r" % (fn,))
    body = _def_source(fn, "function")
    helpers: List[str] = []
    modules: List[Dict[str, str]] = []
    imports: List[str] = []
    shipped_names = {fn.__name__} | {d.__name__ for d in depends if inspect.isfunction(d) or inspect.isclass(d)}
    for dep in depends:
        if inspect.isfunction(dep) or inspect.isclass(dep):
            helpers.append(_def_source(dep, "depends"))
            imports += _import_lines(dep, shipped_names)
        else:
            name, src = module_dependency(dep)
            if any(m["name"] == name for m in modules):
                raise ShippingError("depends: two modules named %s" % name)
            modules.append({"name": name, "source": src})
    imports += _import_lines(fn, shipped_names)
    header = "# shipped by the picluster client from %s\n" % (getattr(fn, "__module__", "?"),)
    seen = []
    for line in imports:
        if line not in seen:
            seen.append(line)
    source = header + "".join(line + "\n" for line in seen) + "\n" + "\n\n".join(helpers + [body])
    job: Dict[str, Any] = {"kind": "python", "source": source, "function": fn.__name__}
    if modules:
        job["depends"] = modules
    return job
