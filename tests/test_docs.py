"""The docs match the code: every command line in the code blocks of README.md, BENCHMARKS.md
and docs/*.md names an existing script (or make target) and only flags its parser accepts, and
every repository path the docs mention exists."""
import functools
import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DOCS = [path for path in [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "BENCHMARKS.md")]
        + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
TOP_LEVEL = {name for name in os.listdir(ROOT) if not name.startswith(".")} - {"output", "data"}
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def code_blocks(path: str) -> list[str]:
    with open(path) as fh:
        return FENCE.findall(fh.read())


def command_lines(block: str) -> list[list[str]]:
    """The python and make commands of a code block, as argument lists (continuations joined,
    comments and a leading `$ ` dropped); lines that do not parse as shell words are skipped."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.strip().removeprefix("$ ")
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):   # VAR=value prefixes
            words = words[1:]
        if words and (words[0].endswith("python") or words[0].endswith("python3")) and len(words) > 1:
            if words[1] == "-m":
                continue
            commands.append(words[1:])
        elif words and words[0] == "make" and len(words) > 1:
            commands.append(words)
    return commands


def documented_commands() -> list[tuple[str, list[str]]]:
    return [(os.path.relpath(path, ROOT), words) for path in DOCS for block in code_blocks(path)
            for words in command_lines(block)]


@functools.cache
def accepted_flags(script: str) -> frozenset[str]:
    """Every option string in `script --help` (its parser's flags)."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, script), "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{script} --help failed:\n{result.stderr[-2000:]}"
    return frozenset(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", result.stdout))


@functools.cache
def make_targets() -> frozenset[str]:
    with open(os.path.join(ROOT, "Makefile")) as fh:
        return frozenset(re.findall(r"^([\w-]+):", fh.read(), re.M))


COMMANDS = documented_commands()


def test_the_docs_have_commands():
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("doc, words", COMMANDS, ids=[f"{d}:{' '.join(w)[:60]}" for d, w in COMMANDS])
def test_documented_command_runs_an_existing_script_with_known_flags(doc, words):
    if words[0] == "make":
        assert set(words[1:]) - {w for w in words[1:] if "=" in w} <= make_targets(), words
        return
    script = words[0]
    assert os.path.isfile(os.path.join(ROOT, script)), f"{doc}: {script} does not exist"
    flags = {w.split("=")[0] for w in words[1:] if re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", w)}
    unknown = flags - accepted_flags(script)
    assert not unknown, f"{doc}: {script} does not accept {sorted(unknown)}"


PATH_TOKEN = re.compile(r"`([\w.-]+(?:/[\w.*<>-]*)+)`|\]\(([\w./-]+)\)")


def mentioned_paths(path: str) -> list[str]:
    """Repository paths in backticks or markdown links: a first component that is a top-level
    entry of the repository; links resolve from the document's folder."""
    with open(path) as fh:
        text = fh.read()
    found = []
    for backticked, link in PATH_TOKEN.findall(text):
        if link:
            if "://" in link:
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(os.path.relpath(path, ROOT)), link))
        else:
            target = backticked
        if target.split("/")[0] in TOP_LEVEL and not re.search(r"[*<>]", target):
            found.append(target)
    return found


PATHS = [(os.path.relpath(doc, ROOT), target) for doc in DOCS for target in mentioned_paths(doc)]


@pytest.mark.parametrize("doc, target", PATHS, ids=[f"{d}:{t}" for d, t in PATHS])
def test_mentioned_repository_path_exists(doc, target):
    assert os.path.exists(os.path.join(ROOT, target)), f"{doc} mentions {target}, which does not exist"
