"""Finding calculators: built-ins, a user plugin directory, and installed packages' entry points.

Sources, loaded in this order (the first calculator registered under a name wins; a later one
with the same name is reported as a conflict):

1. ``cryptoflow.features.calculators``: every module of the package;
2. plugin directories: every ``*.py`` file (not starting with ``_``) in the directories given, or
   in ``$CRYPTOFLOW_PLUGIN_DIR`` (several separated by ``os.pathsep``);
3. the entry-point group ``cryptoflow.features``: an entry point may name a calculator class, an
   instance, a module, or a list of classes.

In a module, every concrete ``FeatureCalculator`` subclass *defined in that module* is registered
(imported base classes are not). Anything that goes wrong — a syntax error, an import error, a
bad name, a bad parameter default — is recorded as a ``PluginError`` (source, origin, error) and
loading goes on: a broken plugin never stops the server, and ``list_feature_calculators`` shows why
it is missing.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import pkgutil
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from cryptoflow.errors import CryptoflowError
from cryptoflow.features.base import CalcContext, CalculatorError, CalculatorResult, FeatureCalculator

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "cryptoflow.features"
PLUGIN_DIR_ENV = "CRYPTOFLOW_PLUGIN_DIR"
BUILTIN_PACKAGE = "cryptoflow.features.calculators"


@dataclass(frozen=True, slots=True)
class PluginError:
    """A calculator source that could not be loaded, and why."""

    source: str  # "builtin" | "directory" | "entry_point"
    origin: str  # module name, file path or entry point
    error: str  # "ExceptionType: message (file:line)"

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "origin": self.origin, "error": self.error}


@dataclass(frozen=True, slots=True)
class Registered:
    calculator: FeatureCalculator
    source: str
    origin: str


def _describe_exc(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = f" ({Path(exc.filename or '?').name}:{exc.lineno})"
    return f"{type(exc).__name__}: {exc}{where}"


def plugin_dirs_from_env() -> list[Path]:
    raw = os.environ.get(PLUGIN_DIR_ENV, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


class CalculatorRegistry:
    """Calculators by name, plus the errors met while loading them."""

    def __init__(self) -> None:
        self._calcs: dict[str, Registered] = {}
        self.errors: list[PluginError] = []

    # ---- registration ------------------------------------------------------------------------
    def register(self, obj: type[FeatureCalculator] | FeatureCalculator, source: str = "api",
                 origin: str = "register()") -> bool:
        """Register a class or instance; returns False (and records why) when it is refused."""
        try:
            cls = obj if isinstance(obj, type) else type(obj)
            if not issubclass(cls, FeatureCalculator):
                raise CalculatorError(f"{cls.__name__} is not a FeatureCalculator subclass")
            cls.check_definition()
            calc = obj() if isinstance(obj, type) else obj
        except Exception as exc:
            self.errors.append(PluginError(source, origin, _describe_exc(exc)))
            log.warning("calculator from %s refused: %s", origin, exc)
            return False
        if calc.name in self._calcs:
            prev = self._calcs[calc.name]
            self.errors.append(PluginError(source, origin, f"CalculatorError: name {calc.name!r} already registered "
                                                           f"by {prev.source} {prev.origin}; this one is ignored"))
            return False
        self._calcs[calc.name] = Registered(calc, source, origin)
        return True

    def register_module(self, module: ModuleType, source: str, origin: str) -> int:
        found = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                 if issubclass(obj, FeatureCalculator) and obj is not FeatureCalculator
                 and obj.__module__ == module.__name__ and not getattr(obj, "__abstract_plugin__", False)]
        if not found and source != "builtin":
            self.errors.append(PluginError(source, origin, "CalculatorError: no FeatureCalculator subclass defined"))
        return sum(self.register(cls, source, origin) for cls in found)

    # ---- sources ---------------------------------------------------------------------------------
    def load_builtins(self) -> int:
        pkg = importlib.import_module(BUILTIN_PACKAGE)
        n = 0
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            modname = f"{BUILTIN_PACKAGE}.{info.name}"
            try:
                mod = importlib.import_module(modname)
            except Exception as exc:
                self.errors.append(PluginError("builtin", modname, _describe_exc(exc)))
                continue
            n += self.register_module(mod, "builtin", modname)
        return n

    def load_directory(self, directory: Path | str) -> int:
        """Load every ``*.py`` plugin file of a directory (files starting with ``_`` are skipped)."""
        d = Path(directory).expanduser()
        if not d.is_dir():
            self.errors.append(PluginError("directory", str(d), "NotADirectoryError: plugin directory does not exist"))
            return 0
        n = 0
        for path in sorted(d.glob("*.py")):
            if path.name.startswith("_"):
                continue
            digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
            modname = f"cryptoflow_plugins.{path.stem}_{digest}"
            try:
                spec = importlib.util.spec_from_file_location(modname, path)
                if spec is None or spec.loader is None:
                    raise CalculatorError("not a loadable Python file")
                mod = importlib.util.module_from_spec(spec)
                sys.modules[modname] = mod  # dataclasses and pickling look modules up by name
                try:
                    spec.loader.exec_module(mod)
                except BaseException:
                    sys.modules.pop(modname, None)
                    raise
            except Exception as exc:
                self.errors.append(PluginError("directory", str(path), _describe_exc(exc)))
                log.warning("plugin %s failed to load: %s", path, exc)
                continue
            n += self.register_module(mod, "directory", str(path))
        return n

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> int:
        n = 0
        for ep in importlib.metadata.entry_points(group=group):
            origin = f"{ep.name} = {ep.value}"
            try:
                obj: Any = ep.load()
            except Exception as exc:
                self.errors.append(PluginError("entry_point", origin, _describe_exc(exc)))
                continue
            if isinstance(obj, ModuleType):
                n += self.register_module(obj, "entry_point", origin)
            elif isinstance(obj, list | tuple):
                n += sum(self.register(o, "entry_point", origin) for o in obj)
            else:
                n += self.register(obj, "entry_point", origin)
        return n

    def discover(self, plugin_dirs: list[Path | str] | None = None, *, builtins: bool = True,
                 entry_points: bool = True, env: bool = True) -> CalculatorRegistry:
        """Load every source; ``plugin_dirs`` adds to ``$CRYPTOFLOW_PLUGIN_DIR`` (when ``env``)."""
        if builtins:
            self.load_builtins()
        dirs = [*(plugin_dirs or []), *(plugin_dirs_from_env() if env else [])]
        for d in dict.fromkeys(str(Path(p).expanduser()) for p in dirs):
            self.load_directory(d)
        if entry_points:
            self.load_entry_points()
        log.info("feature calculators: %d loaded, %d errors", len(self._calcs), len(self.errors))
        return self

    # ---- use ----------------------------------------------------------------------------------------
    def __contains__(self, name: str) -> bool:
        return name in self._calcs

    def __len__(self) -> int:
        return len(self._calcs)

    def names(self) -> list[str]:
        return sorted(self._calcs)

    def get(self, name: str) -> FeatureCalculator:
        try:
            return self._calcs[name].calculator
        except KeyError:
            raise CalculatorError(f"no calculator {name!r}; calculators are: {', '.join(self.names())}") from None

    def listing(self) -> dict[str, Any]:
        """What ``list_feature_calculators`` returns: calculators with parameters and source, and errors."""
        return {"calculators": [{**r.calculator.describe(), "source": r.source, "origin": r.origin}
                                for _, r in sorted(self._calcs.items())],
                "errors": [e.to_dict() for e in self.errors]}

    async def calculate(self, name: str, ctx: CalcContext, params: dict[str, Any] | None = None) -> CalculatorResult:
        """Run one calculator. Our own errors pass through; anything else becomes a
        ``CalculatorError`` naming the calculator (and is logged with its traceback)."""
        calc = self.get(name)
        try:
            return await calc.run(ctx, params)
        except CryptoflowError:
            raise
        except Exception as exc:
            log.exception("calculator %s failed", name)
            raise CalculatorError(f"calculator {name} failed: {type(exc).__name__}: {exc}") from exc


def tool_function(
    calc: FeatureCalculator,
    context: Callable[[], CalcContext],
    wrap_error: Callable[[Exception], Exception] | None = None,
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """An async function the MCP SDK can register as ``calculate_<name>``: keyword parameters with
    the calculator's types, defaults and descriptions (``__signature__``), its description as the
    docstring, a JSON-able dict as the result. ``context()`` supplies the lake per call;
    ``wrap_error`` turns our errors into the server's (e.g. ``ToolError``) so the model reads them.
    """

    async def tool(**kwargs: Any) -> dict[str, Any]:
        try:
            return (await calc.run(context(), kwargs)).to_dict()
        except CryptoflowError as exc:
            if wrap_error is None:
                raise
            raise wrap_error(exc) from exc
        except Exception as exc:
            log.exception("calculator %s failed", calc.name)
            err = CalculatorError(f"calculator {calc.name} failed: {type(exc).__name__}: {exc}")
            raise (wrap_error(err) if wrap_error else err) from exc

    tool.__name__ = tool.__qualname__ = f"calculate_{calc.name}"
    tool.__doc__ = calc.description
    tool.__signature__ = calc.signature().replace(return_annotation=dict[str, Any])  # type: ignore[attr-defined]
    return tool


def default_registry(plugin_dirs: list[Path | str] | None = None) -> CalculatorRegistry:
    """Built-ins + ``plugin_dirs`` + ``$CRYPTOFLOW_PLUGIN_DIR`` + entry points."""
    return CalculatorRegistry().discover(plugin_dirs)


__all__ = ["BUILTIN_PACKAGE", "ENTRY_POINT_GROUP", "PLUGIN_DIR_ENV", "CalculatorRegistry", "PluginError",
           "Registered", "default_registry", "plugin_dirs_from_env", "tool_function"]
