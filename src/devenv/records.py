"""Record classes for the modules a re-resolve and the diagnostics load, at a fraction of the
start-up cost of `dataclasses`.

`dataclasses` imports `inspect` (and with it `ast`, `dis`, `tokenize`, `linecache`) and
compiles five or six methods per class with `exec`: about 15 ms for the classes a re-resolve
after a `.env` edit needs, more than all the rest of that path beyond T0
(benchmarks/diagnostics.py). This `dataclass` makes the same classes: a keyword-only `__init__`
(with defaults and `field(default_factory=...)`), frozen, slotted, and `__eq__`, `__hash__`
and `__repr__` over the fields, with one small `exec` per class.

Type checkers see `dataclasses` itself (the TYPE_CHECKING branch), so mypy checks every
field, default and call exactly as for a dataclass. Only what devenv's records use is
supported: `dataclass(frozen=..., kw_only=..., slots=...)` on a class without a record base
class, `field(default=..., default_factory=..., repr=...)`, and `replace`; tests/unit/
test_records.py holds these classes to what `dataclasses` makes of the same declarations.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass as dataclass
    from dataclasses import field as field
    from dataclasses import replace as replace
else:
    _MISSING = object()

    class _Field:
        __slots__ = ("default", "factory", "shown")

        def __init__(self, default: object, factory: object, shown: bool) -> None:
            self.default, self.factory, self.shown = default, factory, shown

    def field(*, default=_MISSING, default_factory=_MISSING, repr=True):
        """A field with a default, a default factory, or left out of repr."""
        return _Field(default, default_factory, repr)

    class FrozenRecordError(AttributeError):
        """Assigning to a field of a frozen record (as dataclasses.FrozenInstanceError)."""

    def _frozen(self, name, value=None):
        raise FrozenRecordError(f"cannot assign to field {name!r}")

    def _repr(self):
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__record_repr__)
        return f"{type(self).__qualname__}({shown})"

    def _values(self):
        return tuple(getattr(self, name) for name in type(self).__record_fields__)

    def _eq(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _values(self) == _values(other)

    def _hash(self):
        return hash(_values(self))

    def _getstate(self):
        return _values(self)

    def _setstate(self, state):
        for name, value in zip(type(self).__record_fields__, state, strict=True):
            object.__setattr__(self, name, value)

    def dataclass(*, frozen=False, kw_only=False, slots=False):
        """The class decorator: `@dataclass(frozen=True, kw_only=True, slots=True)`."""

        def wrap(cls):
            names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 (inspect is the cost)
            scope = {"_MISSING": _MISSING, "_set": object.__setattr__}
            parameters, lines = [], []
            for name in names:
                default = cls.__dict__.get(name, _MISSING)
                factory = _MISSING
                if isinstance(default, _Field):
                    default, factory = default.default, default.factory
                value = name
                if factory is not _MISSING:
                    scope[f"_factory_{name}"] = factory
                    parameters.append(f"{name}=_MISSING")
                    value = f"_factory_{name}() if {name} is _MISSING else {name}"
                elif default is not _MISSING:
                    scope[f"_default_{name}"] = default
                    parameters.append(f"{name}=_default_{name}")
                else:
                    parameters.append(name)
                if frozen and slots:
                    lines.append(f"    _set_{name}(self, {value})")  # the slot's own setter: faster
                elif frozen:
                    lines.append(f"    _set(self, {name!r}, {value})")
                else:
                    lines.append(f"    self.{name} = {value}")
            star = "*, " if kw_only and parameters else ""
            head = f"def __init__(self, {star}{', '.join(parameters)}):\n"
            source = head + ("\n".join(lines) or "    pass")
            exec(source, scope)  # one small function per class: what makes __init__ fast
            body = {key: value for key, value in cls.__dict__.items() if key not in names}
            body.pop("__dict__", None)
            body.pop("__weakref__", None)
            init = scope["__init__"]
            init.__qualname__ = f"{cls.__qualname__}.__init__"
            shown = tuple(
                name
                for name in names
                if not (isinstance(cls.__dict__.get(name), _Field) and not cls.__dict__[name].shown)
            )
            body.update(
                __init__=init,
                __repr__=_repr,
                __eq__=_eq,
                __hash__=_hash if frozen else None,
                __match_args__=() if kw_only else names,
                __record_fields__=names,
                __record_repr__=shown,
            )
            if frozen:
                body.update(__setattr__=_frozen, __delattr__=_frozen)
            if slots:
                body.update(__slots__=names, __getstate__=_getstate, __setstate__=_setstate)
            made = type(cls)(cls.__name__, cls.__bases__, body)
            made.__qualname__ = cls.__qualname__
            if frozen and slots:
                # __init__ looks these up when called: each slot's descriptor sets it past
                # the frozen __setattr__, a third faster than object.__setattr__.
                scope.update({f"_set_{name}": made.__dict__[name].__set__ for name in names})
            return made

        return wrap

    def replace(instance, /, **changes):
        """A copy of `instance` with `changes` (as dataclasses.replace)."""
        values = {name: getattr(instance, name) for name in type(instance).__record_fields__}
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"{type(instance).__qualname__} has no field(s) {', '.join(sorted(unknown))}")
        return type(instance)(**{**values, **changes})
