"""Scenario files: TOML and JSON loading, chain keys expanded into tags, stable ids, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simulator.scenario import (
    Scenario,
    ScenarioError,
    builtin_scenario,
    load_scenario,
    stable_id,
)

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")
FINANCE_TOML = Path(__file__).parent.parent / "simulator" / "scenarios" / "finance.toml"

TOML_TEXT = """
name = "small"
[[users]]
id = "admin"
name = "Admin"
api_key = "key-1"

[[spaces]]
id = "dev"
name = "Dev"
type = "shared"

[[apps]]
key = "extract"
resource_type = "script"
space = "dev"
next = ["report"]
next_onfail = ["alert"]

[[apps]]
key = "report"
name = "Sales report"
tags = ["finance"]
outcome = "failure"
duration_seconds = 3.5

[[apps]]
key = "alert"

[[reloads]]
app = "extract"
ended_minutes_ago = 5
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_file_loads_with_chain_tags(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, "small.toml", TOML_TEXT))
    assert scenario.name == "small"
    assert [app.key for app in scenario.apps] == ["extract", "report", "alert"]
    extract, report, alert = scenario.apps
    assert extract.tags == [f"next-{report.id}", f"next-onfail-{alert.id}"]
    assert extract.next == [] and extract.next_onfail == []
    assert report.tags == ["finance"]
    assert report.name == "Sales report" and alert.name == "alert"
    assert report.outcome == "failure" and report.duration_seconds == 3.5
    assert scenario.reloads[0].ended_minutes_ago == 5
    assert scenario.api_key == "key-1"


def test_json_file_loads_the_same_scenario(tmp_path: Path) -> None:
    data = {
        "name": "small",
        "users": [{"id": "admin", "name": "Admin", "api_key": "key-1"}],
        "spaces": [{"id": "dev", "name": "Dev", "type": "shared"}],
        "apps": [
            {
                "key": "extract",
                "resource_type": "script",
                "space": "dev",
                "next": ["report"],
                "next_onfail": ["alert"],
            },
            {
                "key": "report",
                "name": "Sales report",
                "tags": ["finance"],
                "outcome": "failure",
                "duration_seconds": 3.5,
            },
            {"key": "alert"},
        ],
        "reloads": [{"app": "extract", "ended_minutes_ago": 5}],
    }
    from_json = load_scenario(write(tmp_path, "small.json", json.dumps(data)))
    from_toml = load_scenario(write(tmp_path, "small.toml", TOML_TEXT))
    assert from_json == from_toml


def test_json_with_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"name": "bom"}).encode())
    assert load_scenario(path).name == "bom"


def test_builtin_finance_scenario() -> None:
    scenario = builtin_scenario("finance")
    assert len(scenario.apps) == 7
    keys = {app.key: app for app in scenario.apps}
    assert set(keys) == {
        "extract",
        "transform",
        "ledger",
        "payables",
        "receivables",
        "dashboard",
        "alerts",
    }
    for app in scenario.apps:
        pattern = HEX24 if app.resource_type == "script" else GUID
        assert pattern.match(app.id), (app.key, app.id)
        assert app.id == stable_id(app.key, app.resource_type)
        assert app.next == [] and app.next_onfail == []
    assert keys["extract"].resource_type == "script"
    assert keys["transform"].resource_type == "script"
    assert keys["extract"].tags == [f"next-{keys['transform'].id}"]
    assert keys["transform"].tags == [
        f"next-{keys['ledger'].id}",
        f"next-{keys['payables'].id}",
        f"next-{keys['receivables'].id}",
    ]
    assert keys["payables"].outcome == "failure"
    assert keys["payables"].tags == [f"next-onfail-{keys['alerts'].id}"]
    assert keys["ledger"].tags == keys["receivables"].tags == [f"next-{keys['dashboard'].id}"]
    assert keys["dashboard"].tags == [] and keys["alerts"].tags == []
    spaces = {space.id: space.type for space in scenario.spaces}
    assert all(app.space in spaces for app in scenario.apps)
    assert scenario.reloads[0].app == "extract"
    assert scenario.api_key == "sim-api-key"


def test_builtin_ids_are_stable_across_loads() -> None:
    first, second = builtin_scenario("finance"), builtin_scenario("finance")
    assert [a.id for a in first.apps] == [a.id for a in second.apps]
    assert [a.tags for a in first.apps] == [a.tags for a in second.apps]
    assert load_scenario(FINANCE_TOML) == first


def test_stable_id_differs_by_key_and_type() -> None:
    assert stable_id("a", "app") != stable_id("b", "app")
    assert stable_id("a", "script") != stable_id("b", "script")
    assert GUID.match(stable_id("a", "app"))
    assert HEX24.match(stable_id("a", "script"))


def test_explicit_id_is_kept() -> None:
    scenario = Scenario.model_validate({"apps": [{"key": "a", "id": "my-own-id"}]})
    assert scenario.apps[0].id == "my-own-id"


def test_scenario_defaults_give_a_usable_admin() -> None:
    scenario = Scenario()
    assert scenario.api_key == "sim-api-key"
    assert scenario.users[0].tenant_admin


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[[apps]]\nkey = "a"\nnext = ["ghost"]\n', "ghost"),
        ('[[apps]]\nkey = "a"\nnext_onfail = ["ghost"]\n', "ghost"),
        ('[[apps]]\nkey = "a"\nspace = "nowhere"\n', "nowhere"),
        ('[[apps]]\nkey = "a"\n[[reloads]]\napp = "ghost"\n', "ghost"),
    ],
    ids=["next", "next_onfail", "space", "reload"],
)
def test_unknown_references_name_the_file_and_the_unknown_key(
    tmp_path: Path, text: str, named: str
) -> None:
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)
    assert repr(named) in str(caught.value)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.toml", "[[apps]\nkey = \n")
    with pytest.raises(ScenarioError, match=re.escape(str(path))):
        load_scenario(path)


def test_bad_json_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '{"apps": [')
    with pytest.raises(ScenarioError, match=re.escape(str(path))):
        load_scenario(path)


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ScenarioError, match=re.escape(str(path))):
        load_scenario(path)


def test_unknown_field_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "extra.toml", '[[apps]]\nkey = "a"\ncolour = "red"\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message
    assert "apps.0.colour" in message


def test_unknown_top_level_field(tmp_path: Path) -> None:
    path = write(tmp_path, "extra.json", json.dumps({"tenant": "x"}))
    with pytest.raises(ScenarioError, match=r"tenant"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("outcome", '"maybe"'),
        ("resource_type", '"dataset"'),
        ("duration_seconds", "-1"),
        ("duplicate_events", "0"),
    ],
)
def test_invalid_values_name_the_field(tmp_path: Path, field: str, value: str) -> None:
    path = write(tmp_path, "bad.toml", f'[[apps]]\nkey = "a"\n{field} = {value}\n')
    with pytest.raises(ScenarioError, match=rf"apps\.0\.{field}"):
        load_scenario(path)


def test_invalid_space_type(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", '[[spaces]]\nid = "s"\nname = "S"\ntype = "personal"\n')
    with pytest.raises(ScenarioError, match=r"spaces\.0\.type"):
        load_scenario(path)


def test_fault_section_loads(tmp_path: Path) -> None:
    text = (
        "[faults]\nlatency_ms = 5\nerror_rate = 0.1\ntier1_limit = 7\n"
        '[[faults.rules]]\npath = "/api/v1/audits"\nstatus = 500\ncount = 2\n'
    )
    faults = load_scenario(write(tmp_path, "faults.toml", text)).faults
    assert faults.latency_ms == 5 and faults.error_rate == 0.1 and faults.tier1_limit == 7
    assert faults.rules[0].path == "/api/v1/audits" and faults.rules[0].count == 2


def test_error_rate_above_one_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", "[faults]\nerror_rate = 1.5\n")
    with pytest.raises(ScenarioError, match=r"faults\.error_rate"):
        load_scenario(path)


def test_late_and_future_events_and_after_faults_load(tmp_path: Path) -> None:
    text = (
        '[[apps]]\nkey = "a"\n'
        '[[reloads]]\napp = "a"\nended_minutes_ago = 20\nvisible_in_seconds = 5\n'
        "event_time = 2099-01-01T00:00:00Z\n"
        "[faults]\nafter_share = 0.5\n"
        '[[faults.rules]]\npath = "/api/v1/reloads"\nmethod = "POST"\nafter = true\n'
        'label = "lost-start"\n'
    )
    loaded = load_scenario(write(tmp_path, "quirks.toml", text))
    assert loaded.reloads[0].visible_in_seconds == 5
    assert loaded.reloads[0].event_time is not None and loaded.reloads[0].event_time.year == 2099
    assert loaded.faults.after_share == 0.5
    assert loaded.faults.rules[0].after and loaded.faults.rules[0].label == "lost-start"


@pytest.mark.parametrize("quirk", ["visible_in_seconds = 5", 'event_time = "2099-01-01T00:00:00Z"'])
def test_event_quirks_need_a_past_reload(tmp_path: Path, quirk: str) -> None:
    text = f'[[apps]]\nkey = "a"\n[[reloads]]\napp = "a"\nstart_in_seconds = 1\n{quirk}\n'
    with pytest.raises(ScenarioError, match="need ended_minutes_ago"):
        load_scenario(write(tmp_path, "bad.toml", text))


def test_naive_event_time_is_refused(tmp_path: Path) -> None:
    text = '[[apps]]\nkey = "a"\n[[reloads]]\napp = "a"\nended_minutes_ago = 1\n'
    text += "event_time = 2099-01-01T00:00:00\n"
    with pytest.raises(ScenarioError, match=r"reloads\.0\.event_time"):
        load_scenario(write(tmp_path, "bad.toml", text))


TASKS_TOML = """
[[apps]]
key = "extract"
name = "Finance extract"
resource_type = "script"

[[apps]]
key = "report"

[[apps]]
key = "alert"

[[tasks]]
key = "nightly"
app = "extract"

[[tasks]]
key = "report-after-extract"
app = "report"
after = "nightly"

[[tasks]]
key = "alert-on-failure"
app = "alert"
name = "Alert the team"
after = "report-after-extract"
on = "failure"
disabled_code = "CONSECUTIVE-FAILURES"

[[reloads]]
app = "extract"
task = "nightly"
start_in_seconds = 1

[[reloads]]
app = "report"
task = "report-after-extract"
ended_minutes_ago = 30
"""


def test_tasks_load_with_names_ids_and_run_types(tmp_path: Path) -> None:
    loaded = load_scenario(write(tmp_path, "tasks.toml", TASKS_TOML))
    nightly, report, alert = loaded.tasks
    assert nightly.name == "Reload Finance extract" and report.name == "Reload report"
    assert alert.name == "Alert the team"
    assert nightly.kind == "time" and report.kind == "event" and report.on == "success"
    assert alert.on == "failure" and not alert.enabled and not alert.fires
    assert nightly.enabled and report.fires and not nightly.fires
    assert all(GUID.match(task.id) for task in loaded.tasks)
    assert len({task.id for task in loaded.tasks} | {app.id for app in loaded.apps}) == 6
    assert [reload.type for reload in loaded.reloads] == ["chronos", "choreographer"]
    again = load_scenario(write(tmp_path, "again.toml", TASKS_TOML))
    assert [t.id for t in again.tasks] == [t.id for t in loaded.tasks]
    assert Scenario.model_validate(loaded.model_dump()) == loaded


@pytest.mark.parametrize(
    ("tasks", "reload", "message"),
    [
        ('key = "t"\napp = "ghost"\n', "", "unknown app 'ghost'"),
        ('key = "t"\napp = "a"\nafter = "ghost"\n', "", "after unknown task 'ghost'"),
        ('key = "t"\napp = "a"\nafter = "t"\n', "", "'t' runs after itself"),
        ('key = "t"\napp = "a"\non = "failure"\n', "", "need after"),
        ('key = "t"\napp = "a"\nupstream_deleted = true\n', "", "need after"),
        ('key = "t"\napp = "a"\non = "sometimes"\nafter = "u"\n', "", "tasks.1.on"),
        ('key = "t"\napp = "a"\nenabled = true\ndisabled_code = "MANUALLY"\n', "", "enabled"),
        ('key = "t"\napp = "a"\ndisabled_code = "TIRED"\n', "", "tasks.1.disabled_code"),
        ('key = "t"\napp = "a"\n', 'task = "ghost"\n', "unknown task 'ghost'"),
        ('key = "t"\napp = "b"\n', 'task = "t"\n', "reloads 'b', not 'a'"),
        ('key = "t"\napp = "a"\nenabled = false\n', 'task = "t"\n', "disabled"),
        ('key = "t"\napp = "a"\n', 'task = "t"\ntype = "external"\n', "type 'chronos'"),
    ],
    ids=[
        "unknown-app",
        "unknown-after",
        "after-itself",
        "on-without-after",
        "deleted-without-after",
        "bad-on",
        "enabled-with-code",
        "bad-code",
        "run-of-unknown-task",
        "run-of-another-app",
        "run-of-disabled-time-task",
        "run-of-wrong-type",
    ],
)
def test_invalid_tasks_are_scenario_errors(
    tmp_path: Path, tasks: str, reload: str, message: str
) -> None:
    text = '[[apps]]\nkey = "a"\n[[apps]]\nkey = "b"\n'
    text += '[[tasks]]\nkey = "u"\napp = "b"\n[[tasks]]\n' + tasks
    text += f'[[reloads]]\napp = "a"\nstart_in_seconds = 1\n{reload}' if reload else ""
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(ScenarioError, match=re.escape(message)) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)


def test_tasks_that_run_after_each_other_in_a_loop_are_refused(tmp_path: Path) -> None:
    text = '[[apps]]\nkey = "a"\n'
    for key, after in (("x", "y"), ("y", "z"), ("z", "x")):
        text += f'[[tasks]]\nkey = "{key}"\napp = "a"\nafter = "{after}"\n'
    with pytest.raises(ScenarioError, match="in a loop: x -> y -> z"):
        load_scenario(write(tmp_path, "loop.toml", text))


def test_two_tasks_with_one_key_are_refused(tmp_path: Path) -> None:
    text = '[[apps]]\nkey = "a"\n' + '[[tasks]]\nkey = "x"\napp = "a"\n' * 2
    with pytest.raises(ScenarioError, match="two tasks have the key 'x'"):
        load_scenario(write(tmp_path, "twice.toml", text))
