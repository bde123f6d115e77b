"""One error root: every error class of the program has its exit code, and ``main()`` returns it."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

import pytest

from qlik.errors import (
    ApiError,
    RateLimitedError,
    ReloadChainError,
    SlotUnavailableError,
)
from scheduler import commands
from scheduler.cli import main

PACKAGES = ("qlik", "state", "jobs", "scheduler", "simulator")
EXIT_CODES = {1, 2, 3}  # SPEC section 5
# Control flow that never leaves its module, with where it is caught.
INTERNAL = {"simulator.calls.BadRequest": "the simulated tenant's 400 answer, in its handler"}
# Errors whose constructor takes more than a message.
SPECIAL: dict[type[ReloadChainError], Callable[[str], ReloadChainError]] = {
    ApiError: lambda text: ApiError(403, "HTTP-403", text, "GET /api/v1/items"),
    RateLimitedError: lambda text: RateLimitedError(text, 30.0),
    SlotUnavailableError: lambda text: SlotUnavailableError(text, 61.0),
}


def product_exceptions() -> list[type[BaseException]]:
    """Every exception class defined in the program's own modules."""
    found: list[type[BaseException]] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if module.name.endswith(".__main__"):  # runs the program when imported
                continue
            loaded = importlib.import_module(module.name)
            found += [
                value
                for value in vars(loaded).values()
                if isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.name
            ]
    return found


ERRORS = sorted(
    (error for error in product_exceptions() if issubclass(error, ReloadChainError)),
    key=lambda error: error.__qualname__,
)


def test_every_error_class_of_the_program_descends_from_the_root() -> None:
    strays = [
        f"{error.__module__}.{error.__qualname__}"
        for error in product_exceptions()
        if not issubclass(error, ReloadChainError)
        and f"{error.__module__}.{error.__qualname__}" not in INTERNAL
    ]
    assert strays == []
    assert len(ERRORS) >= 15  # the walk found the modules


@pytest.mark.parametrize("error_class", ERRORS, ids=lambda error: error.__qualname__)
def test_each_error_has_a_contract_exit_code(error_class: type[ReloadChainError]) -> None:
    assert error_class.exit_code in EXIT_CODES


@pytest.mark.parametrize("error_class", ERRORS, ids=lambda error: error.__qualname__)
def test_main_returns_each_errors_exit_code_with_one_line(
    error_class: type[ReloadChainError],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    message = f"{error_class.__name__} raised by a command"
    error = SPECIAL.get(error_class, error_class)(message)

    def failing(_args: object, _runtime: object) -> int:
        raise error

    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    monkeypatch.setattr(commands, "cmd_status", failing)
    assert main(["status"]) == error_class.exit_code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if message in line] == [
        next(line for line in err.splitlines() if message in line)
    ]


def test_the_exit_codes_are_the_contracts() -> None:
    by_name = {error.__name__: error.exit_code for error in ERRORS}
    assert by_name["SettingsError"] == 2
    assert by_name["AuthenticationError"] == 2
    assert by_name["LockHeldError"] == 3
    assert by_name["LeaseLostError"] == 3
    assert by_name["TransientError"] == 1
    assert by_name["StateError"] == 1
    assert by_name["DamagedDatabaseError"] == 2


def test_an_error_outside_the_root_is_a_bug_with_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(_args: object, _runtime: object) -> int:
        raise KeyError("a bug")

    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    monkeypatch.setattr(commands, "cmd_status", failing)
    assert main(["status"]) == 1
    assert "unexpected error (a bug: please report it)" in capsys.readouterr().err
