"""The command line: readable one-line errors with a hint, never a traceback without --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SHOPSEQ = Path(sys.executable).with_name("shopseq")


def shopseq(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SHOPSEQ), *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_a_typo_in_params_is_one_line_naming_the_key(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"epoch": 3}}))
    done = shopseq("run", "sequences", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "'epoch'" in lines[0]
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in done.stderr


def test_an_unknown_stage_lists_the_stages(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    done = shopseq("run", "trian", cwd=tmp_path)
    assert done.returncode == 1
    assert "unknown stage 'trian' (did you mean 'train'?)" in done.stderr and "ingest" in done.stderr


def test_a_misspelt_params_key_or_choice_gets_did_you_mean(tmp_path):
    (tmp_path / "params.yaml").write_text("trian:\n  epochs: 3\n")
    done = shopseq("run", "sequences", cwd=tmp_path)
    assert "unknown key 'trian' (did you mean 'train'?)" in done.stderr
    (tmp_path / "params.yaml").write_text("ingest:\n  source: taobo\n")
    done = shopseq("run", "sequences", cwd=tmp_path)
    assert "got 'taobo' (did you mean 'taobao'?)" in done.stderr


def test_a_yaml_indentation_mistake_names_the_file_and_line_and_is_not_a_bug(tmp_path):
    (tmp_path / "params.yaml").write_text("train:\n  epochs: 3\n   patience: 2\n")
    done = shopseq("run", "sequences", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    first, hint = done.stderr.strip().splitlines()
    assert first.startswith("error: params.yaml, line 3, column ") and "not valid YAML" in first
    assert "indentation" in first
    assert "bug" not in done.stderr and hint == "hint: check params.yaml (or pass another file with --params)"


def test_help_shows_flags_bare_not_as_bool_values():
    from typer.testing import CliRunner

    from shopseq.cli import app

    for path, _ in command_tree():
        done = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
        assert "<bool>" not in done.output, " ".join(path)
    demo = CliRunner().invoke(app, ["demo", "--help"], terminal_width=200).output
    assert "--serve " in demo and "--project <path>" in demo


def test_rollback_is_recorded_under_the_login_name_not_unknown(monkeypatch):
    from typer.testing import CliRunner

    from shopseq.cli import UserError, app, login_name

    help_text = CliRunner().invoke(app, ["rollback", "--help"], terminal_width=200).output
    assert "unknown" not in help_text and "login name" in help_text
    monkeypatch.setenv("LOGNAME", "alice")
    monkeypatch.setenv("USER", "alice")
    assert login_name() == "alice"
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "")
    monkeypatch.setattr("pwd.getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    with pytest.raises(UserError, match="cannot tell who you are"):
        login_name()


def test_a_missing_input_says_which_stage_to_run(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    done = shopseq("run", "sequences", cwd=tmp_path)
    assert done.returncode == 1
    assert "data/validated/events.parquet not found" in done.stderr and "dvc repro" in done.stderr


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    done = shopseq("--debug", "run", "sequences", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" in done.stderr


def command_tree():
    """(path, command) for the root, every group and every command of `shopseq`."""
    import typer

    from shopseq.cli import app

    def walk(command, path):
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


@pytest.mark.parametrize("path", [p for p, _ in command_tree()], ids=lambda p: " ".join(p) or "shopseq")
def test_every_command_explains_itself_and_each_option(path):
    from typer.testing import CliRunner

    from shopseq.cli import app

    command = {" ".join(p): c for p, c in command_tree()}[" ".join(path)]
    done = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert done.exit_code == 0, done.output
    assert command.help, f"{' '.join(path) or 'shopseq'}: no description"
    assert " ".join(command.help.split()[:5]) in " ".join(done.output.split())  # the description is shown
    for param in command.params:
        assert param.help, f"{' '.join(path) or 'shopseq'} {param.name}: no help text"
        if param.param_type_name == "option":
            assert param.opts[0] in done.output


def test_a_missing_file_is_one_line_and_a_hint_not_a_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    done = shopseq("check-data", "--source", "canonical", "--path", "no/such/dir", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in done.stderr
    assert lines[0].startswith("error: ") and "no/such/dir" in lines[0]
    assert lines[1].startswith("hint: ")
    assert "dvc repro" not in lines[1] and "make demo" not in lines[1] and "--path" in lines[1]


def test_check_data_suggests_a_close_source(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    done = shopseq("check-data", "--source", "taobo", "--path", ".", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1 and "unknown --source 'taobo' (did you mean 'taobao'?)" in done.stderr


def test_report_without_a_pipeline_run_says_what_to_run(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    done = shopseq("report", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "run the pipeline first" in done.stderr.splitlines()[0]


def test_debug_shows_the_traceback_of_any_command(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    done = shopseq("--debug", "report", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" in done.stderr and "FileNotFoundError" in done.stderr
