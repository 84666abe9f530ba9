"""Every public name has a complete numpydoc docstring.

Public: the names of ``jitmlp.__all__``, the public functions and classes
of the public modules (model, optim, trainer, schedules, datasets, registry,
estimators), and the public methods and properties of those classes (those
defined in jitmlp; scikit-learn's ``get_params``, ``score``... are
scikit-learn's to document).  Each needs, parsed with numpydoc's
``docscrape``:

* a summary;
* ``Parameters`` naming every argument of its signature (a class: of
  ``__init__``);
* ``Returns`` (or ``Yields``) when a function or method returns a value;
* ``Raises`` when its body raises, and naming :class:`DivergenceError` for
  the training entry points that raise it;
* ``Examples``, which ``tests/test_doctests.py`` runs: its module must be
  in that test's ``MODULES``.

An override without a docstring inherits its base's (as ``inspect.getdoc``
and Sphinx's autodoc do).  ``python tests/test_docstrings.py`` prints the
list of what is missing.
"""
import ast
import importlib
import inspect
import os
import sys
import textwrap

import pytest

NumpyDocString = pytest.importorskip("numpydoc.docscrape").NumpyDocString

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_doctests import MODULES as DOCTEST_MODULES  # noqa: E402

PUBLIC_MODULES = ["jitmlp.model", "jitmlp.optim", "jitmlp.trainer",
                  "jitmlp.schedules", "jitmlp.datasets", "jitmlp.registry",
                  "jitmlp.estimators"]

# the training entry points: a run that diverges raises DivergenceError
MUST_RAISE = {"Trainer.fit": "DivergenceError",
              "Trainer.step": "DivergenceError",
              "MLPClassifier.fit": "DivergenceError",
              "MLPClassifier.partial_fit": "DivergenceError",
              "MLPRegressor.fit": "DivergenceError",
              "MLPRegressor.partial_fit": "DivergenceError"}


def _defined_in_jitmlp(obj):
    return (getattr(obj, "__module__", None) or "").startswith("jitmlp")


def _public_members(cls):
    """(owner class, attribute name, raw attribute) of the public methods
    and properties of ``cls`` defined in jitmlp; the owner is the class
    that defines (or overrides) it."""
    seen = {}
    for owner in reversed(cls.__mro__):
        if not _defined_in_jitmlp(owner):
            continue
        for name, val in vars(owner).items():
            if name.startswith("_"):
                continue
            if inspect.isfunction(val) or isinstance(
                    val, (staticmethod, classmethod, property)):
                seen[name] = (owner, val)
    return [(owner, n, val) for n, (owner, val) in sorted(seen.items())]


def public_objects():
    """Dict qualified name -> (object, kind, module name, owner class),
    kind one of "function", "class", "method", "property"; the owner is the
    class defining a method or property (else None), and names it: an
    inherited method is checked once, as ``Optimizer.step``."""
    import jitmlp
    out = {}

    def add_class(cls):
        out[cls.__name__] = (cls, "class", cls.__module__, None)
        for owner, name, val in _public_members(cls):
            kind = "property" if isinstance(val, property) else "method"
            out[f"{owner.__name__}.{name}"] = (val, kind, owner.__module__,
                                               owner)

    def add(obj):
        if inspect.isclass(obj):
            add_class(obj)
        elif inspect.isfunction(obj):
            out[obj.__name__] = (obj, "function", obj.__module__, None)

    for name in jitmlp.__all__:
        try:
            obj = getattr(jitmlp, name)
        except ImportError:   # the estimators without scikit-learn
            continue
        if not inspect.ismodule(obj):
            add(obj)
    for modname in PUBLIC_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        for name, obj in vars(mod).items():
            if not name.startswith("_") and _defined_in_jitmlp(obj) and \
                    getattr(obj, "__module__", None) == modname:
                add(obj)
    return out


def _unwrap(val):
    return val.__func__ if isinstance(val, (staticmethod, classmethod)) \
        else val


def _doc(obj, owner, attr):
    """The docstring shown for ``obj``: its own, else that of the nearest
    class above ``owner`` defining the same attribute ``attr``."""
    doc = _unwrap(obj).__doc__
    if doc is None and owner is not None:
        for base in owner.__mro__[1:]:
            val = vars(base).get(attr)
            if val is not None and _unwrap(val).__doc__:
                doc = _unwrap(val).__doc__
                break
    return inspect.cleandoc(doc) if doc else ""


def _body_nodes(fn):
    """The AST nodes of ``fn``'s own body (not of nested functions)."""
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return []
    tree = ast.parse(src)
    top = tree.body[0]
    if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []          # e.g. a property built from a lambda
    nodes, stack = [], list(top.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.Lambda, ast.ClassDef)):
            continue
        nodes.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def _signature_names(fn, skip_first):
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []
    if skip_first and params:
        params = params[1:]
    names = []
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            names.append("*" + p.name)
        elif p.kind is p.VAR_KEYWORD:
            names.append("**" + p.name)
        else:
            names.append(p.name)
    return names


def _documented(section):
    names = set()
    for p in section:
        for n in p.name.split(","):
            names.add(n.strip().replace("\\*", "*"))
    return names


def missing_sections(qual, obj, kind, modname, owner):
    """The list of what the docstring of ``qual`` lacks."""
    text = _doc(obj, owner, qual.rsplit(".", 1)[-1])
    if not text:
        return ["docstring"]
    try:
        doc = NumpyDocString(text)
    except ValueError as exc:    # e.g. a section appearing twice
        return [f"numpydoc cannot parse it: {exc}".splitlines()[0]]
    missing = []
    if not doc["Summary"]:
        missing.append("Summary")
    # the function whose signature and body the docstring describes
    if kind == "class":
        # the nearest __init__ of jitmlp's (none: nothing to document)
        fn = next((vars(b)["__init__"] for b in obj.__mro__
                   if _defined_in_jitmlp(b) and "__init__" in vars(b)), None)
        skip_first = True
    elif kind == "property":
        fn, skip_first = None, False
    else:
        fn = _unwrap(obj)
        skip_first = kind == "method" and not isinstance(obj, staticmethod)
    if fn is not None:
        names = _signature_names(fn, skip_first)
        undocumented = [n for n in names
                        if n not in _documented(doc["Parameters"])
                        and n.lstrip("*") not in _documented(doc["Parameters"])]
        if undocumented:
            missing.append(f"Parameters ({', '.join(undocumented)})")
    if kind in ("function", "method"):
        nodes = _body_nodes(fn)
        returns = any(isinstance(n, ast.Return) and n.value is not None and
                      not (isinstance(n.value, ast.Constant)
                           and n.value.value is None) for n in nodes)
        yields = any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in nodes)
        if returns and not doc["Returns"]:
            missing.append("Returns")
        if yields and not doc["Yields"]:
            missing.append("Yields")
    if kind in ("function", "method", "class"):
        raises = any(isinstance(n, ast.Raise) and n.exc is not None
                     for n in _body_nodes(fn)) if fn is not None else False
        # an abstract method's NotImplementedError is no documented error
        abstract = fn is not None and all(
            isinstance(n, ast.Raise) and "NotImplementedError" in ast.dump(n)
            for n in _body_nodes(fn) if isinstance(n, ast.Raise))
        if raises and not abstract and not doc["Raises"]:
            missing.append("Raises")
    must = MUST_RAISE.get(qual)
    if must and not any(must in p.type or must in p.name
                        for p in doc["Raises"]):
        missing.append(f"Raises ({must})")
    if not doc["Examples"]:
        missing.append("Examples")
    elif modname not in DOCTEST_MODULES:
        missing.append(f"Examples not run ({modname} not in "
                       f"test_doctests.MODULES)")
    return missing


def report():
    out = {}
    for qual, (obj, kind, modname, owner) in sorted(
            public_objects().items()):
        miss = missing_sections(qual, obj, kind, modname, owner)
        if miss:
            out[qual] = miss
    return out


def test_every_public_name_has_a_complete_docstring():
    missing = report()
    assert not missing, "incomplete docstrings:\n" + "\n".join(
        f"  {q}: {', '.join(m)}" for q, m in missing.items())


def test_the_audit_sees_the_public_api():
    # a broken collector would pass the test above with nothing to check
    pytest.importorskip("sklearn")
    names = set(public_objects())
    for q in ("MLP", "MLP.predict", "MLP.dtype",
              "Trainer.fit", "History.plot", "Adam", "Optimizer.step",
              "Cosine.values", "make_spirals", "load", "activation",
              "MLPClassifier.partial_fit", "_BaseMLP.to_onnx",
              "DivergenceError", "set_num_threads"):
        assert q in names, q


def test_the_audit_flags_what_is_missing():
    def f(x):
        """Summary only."""
        if x is None:
            raise ValueError("x")
        return x

    assert missing_sections("f", f, "function", "jitmlp.model", None) == [
        "Parameters (x)", "Returns", "Raises", "Examples"]
    f.__doc__ = """Summary.

    Parameters
    ----------
    x : object

    Returns
    -------
    object

    Raises
    ------
    ValueError

    Examples
    --------
    >>> 1
    1
    """
    assert missing_sections("f", f, "function", "jitmlp.model", None) == []
    assert missing_sections("f", f, "function", "jitmlp.other", None) == [
        "Examples not run (jitmlp.other not in test_doctests.MODULES)"]


if __name__ == "__main__":
    missing = report()
    by = {}
    for q, m in missing.items():
        for s in m:
            by.setdefault(s.split(" (")[0], []).append(q)
    for q, m in missing.items():
        print(f"{q}: {', '.join(m)}")
    print(f"\n{len(missing)} public names incomplete;",
          ", ".join(f"{k}: {len(v)}" for k, v in sorted(by.items())))
