"""The lock file: its format, deterministic output, errors that point into it, and the check."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hipcheck._toml import tomllib
from hipcheck.artifacts import Artifact
from hipcheck.errors import ArtifactError, PolicyError
from hipcheck.lock import (
    LOCK_FILE,
    Lock,
    LockedArtifact,
    LockedPlugin,
    find_lock,
    lock_path,
    read_lock,
    render_lock,
    write_lock,
)
from hipcheck.policy import parse

A, B, C = "a" * 64, "b" * 64, "c" * 64
GIT = LockedPlugin(
    "hipcheck/git",
    "hipcheck-plugin-git",
    "0.1.0",
    (
        LockedArtifact("hipcheck-bridge", "0.1.0", A, "hipcheck"),
        LockedArtifact("hipcheck-plugin-git", "0.1.0", B, "installed"),
        LockedArtifact("pluggy", "1.7.0", C, "installed"),
    ),
)
ACTIVITY = LockedPlugin(
    "hipcheck/activity",
    "hipcheck-plugin-activity",
    "0.1.0",
    (LockedArtifact("hipcheck-plugin-activity", "0.1.0", A, 'wheel:/w/"odd"\\name.whl'),),
)
EXPECTED_TEXT = f"""\
# hipcheck.lock: every artifact of every plugin env the policy beside it needs, by sha256.
# Written by `hipcheck lock`; do not edit it by hand. Commit it with the policy, and run
# `hipcheck lock` again after installing, upgrading or removing a plugin. Format: docs/lock.md.
version = 1

[plugins."hipcheck/activity"]
distribution = "hipcheck-plugin-activity"
version = "0.1.0"
artifacts = [
    {{ name = "hipcheck-plugin-activity", version = "0.1.0", sha256 = "{A}", source = "wheel:/w/\\"odd\\"\\\\name.whl" }},
]

[plugins."hipcheck/git"]
distribution = "hipcheck-plugin-git"
version = "0.1.0"
artifacts = [
    {{ name = "hipcheck-bridge", version = "0.1.0", sha256 = "{A}", source = "hipcheck" }},
    {{ name = "hipcheck-plugin-git", version = "0.1.0", sha256 = "{B}", source = "installed" }},
    {{ name = "pluggy", version = "1.7.0", sha256 = "{C}", source = "installed" }},
]
"""  # noqa: E501


def artifacts_of(plugin: LockedPlugin) -> list[Artifact]:
    return [
        Artifact(a.name, a.version, Path(f"/wheels/{a.name}.whl"), a.sha256, a.source)
        for a in plugin.artifacts
    ]


@pytest.fixture
def lock(tmp_path: Path) -> Lock:
    return read_lock(write_lock(tmp_path / LOCK_FILE, [GIT, ACTIVITY]))


def test_the_lock_is_sorted_toml_with_a_version(tmp_path: Path) -> None:
    path = write_lock(tmp_path / LOCK_FILE, [GIT, ACTIVITY])
    assert path.read_text(encoding="utf-8") == EXPECTED_TEXT
    assert tomllib.loads(EXPECTED_TEXT)["version"] == 1


def test_output_does_not_depend_on_input_order() -> None:
    shuffled = LockedPlugin(GIT.identity, GIT.distribution, GIT.version, GIT.artifacts[::-1])
    assert render_lock([ACTIVITY, shuffled]) == render_lock([GIT, ACTIVITY])


def test_read_gives_back_what_was_written(lock: Lock) -> None:
    assert dict(lock.plugins) == {"hipcheck/git": GIT, "hipcheck/activity": ACTIVITY}


def test_writing_replaces_the_file_atomically(tmp_path: Path) -> None:
    path = write_lock(tmp_path / LOCK_FILE, [GIT])
    write_lock(path, [ACTIVITY])
    assert list(read_lock(path).plugins) == ["hipcheck/activity"]
    assert [p.name for p in tmp_path.iterdir()] == [LOCK_FILE]


def test_locked_plugin_of_artifacts_sorts_and_keeps_sources() -> None:
    made = LockedPlugin.of("hipcheck/git", "hipcheck-plugin-git", "0.1.0", artifacts_of(GIT)[::-1])
    assert made == GIT


def test_matching_artifacts_pass(lock: Lock) -> None:
    lock.check("hipcheck/git", artifacts_of(GIT)[::-1])


def test_a_changed_hash_names_artifact_expected_actual_and_line(lock: Lock) -> None:
    forged = artifacts_of(GIT)
    forged[2] = Artifact("pluggy", "1.7.0", Path("/wheels/pluggy-1.7.0.whl"), "d" * 64)
    with pytest.raises(ArtifactError) as caught:
        lock.check("hipcheck/git", forged)
    assert str(caught.value) == (
        f"plugin hipcheck/git does not match the lock {lock.path}: artifact pluggy "
        f"(pluggy-1.7.0.whl): expected 1.7.0 sha256:{C} (hipcheck.lock:19), actual 1.7.0 "
        f"sha256:{'d' * 64}; if the change is intended, run 'hipcheck lock' again"
    )


def test_a_changed_version_is_refused(lock: Lock) -> None:
    upgraded = artifacts_of(GIT)
    upgraded[2] = Artifact("pluggy", "1.8.0", Path("/wheels/pluggy-1.8.0.whl"), C)
    with pytest.raises(ArtifactError, match=r"expected 1\.7\.0 sha256:c{64} .*actual 1\.8\.0"):
        lock.check("hipcheck/git", upgraded)


def test_an_artifact_the_lock_does_not_list_is_refused(lock: Lock) -> None:
    extra = Artifact("evil", "6.6.6", Path("/wheels/evil-6.6.6.whl"), "e" * 64)
    with pytest.raises(ArtifactError) as caught:
        lock.check("hipcheck/git", [*artifacts_of(GIT), extra])
    assert f"artifact evil (evil-6.6.6.whl, 6.6.6 sha256:{'e' * 64}) is not in the lock" in str(
        caught.value
    )


def test_an_artifact_the_env_lost_is_refused(lock: Lock) -> None:
    with pytest.raises(ArtifactError, match=r"the lock pins pluggy 1\.7\.0 \(hipcheck\.lock:19\)"):
        lock.check("hipcheck/git", artifacts_of(GIT)[:2])


def test_a_plugin_the_lock_does_not_know_is_refused(lock: Lock) -> None:
    with pytest.raises(ArtifactError, match=r"plugin hipcheck/identity is not in the lock"):
        lock.check("hipcheck/identity", [])


def test_equal_versions_spelled_differently_match(lock: Lock) -> None:
    respelled = artifacts_of(GIT)
    respelled[2] = Artifact("pluggy", "1.7", Path("/wheels/pluggy.whl"), C)
    lock.check("hipcheck/git", respelled)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / LOCK_FILE
    path.write_text(text, encoding="utf-8")
    return path


GOOD_ARTIFACT = f'{{ name = "pluggy", version = "1.7.0", sha256 = "{C}", source = "installed" }}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 1\n[plugins\n", r":2:9: not valid TOML: Expected ']'"),
        ("[plugins]\n", r": no 'version' key, so this is not a hipcheck lock file"),
        ("version = 2\n", r":1: version: this hipcheck reads lock format version 1, not 2"),
        ("version = 1\nextra = 3\n", r":2: extra: unknown key; expected one of version, plugins"),
        (
            'version = 1\n[plugins."x/y"]\ndistribution = "d"\nversion = "1"\n'
            f"artifacts = [\n  {GOOD_ARTIFACT},\n"
            '  { name = "p", version = "1", sha256 = "ABC", source = "installed" },\n]\n',
            r':7: plugins."x/y".artifacts\[1\].sha256: expected 64 lowercase hex digits, got '
            r"'ABC'",
        ),
        (
            f'version = 1\n[plugins."x/y"]\ndistribution = "d"\nartifacts = [{GOOD_ARTIFACT}]\n',
            r""":2: plugins."x/y": missing key 'version' \(a version string\)""",
        ),
        (
            'version = 1\n[plugins."x/y"]\ndistribution = 3\nversion = "1"\nartifacts = []\n',
            r':3: plugins."x/y".distribution: expected a distribution name, got int',
        ),
        (
            'version = 1\n[plugins."x/y"]\ndistribution = "d"\nversion = "1"\n'
            f"artifacts = [\n  {GOOD_ARTIFACT},\n  {GOOD_ARTIFACT},\n]\n",
            r':7: plugins."x/y".artifacts\[1\]: pluggy is listed twice',
        ),
        (
            'version = 1\n[plugins.nope]\ndistribution = "d"\nversion = "1"\nartifacts = []\n',
            r":2: plugins.nope: expected a plugin identity, 'publisher/name'",
        ),
    ],
)
def test_a_malformed_lock_names_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError, match=r"^lock " + str(path).replace("\\", "\\\\") + message):
        read_lock(path)


def test_an_unreadable_lock_is_a_policy_error(tmp_path: Path) -> None:
    path = tmp_path / LOCK_FILE
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(PolicyError, match=r"cannot read"):
        read_lock(path)


def test_the_lock_sits_beside_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIPCHECK_CONFIG_DIR", str(tmp_path / "config"))
    text = '[plugins."hipcheck/git"]\n[analyze."hipcheck/git"]\n'
    toml = parse(text, source=str(tmp_path / "p" / "hipcheck.toml"))
    pyproject = parse(text, source=f"{tmp_path / 'q' / 'pyproject.toml'} [tool.hipcheck]")
    builtin = parse(text, source="<built-in default.toml>")
    assert lock_path(toml) == tmp_path / "p" / LOCK_FILE
    assert lock_path(pyproject) == tmp_path / "q" / LOCK_FILE
    assert lock_path(builtin) == tmp_path / "config" / LOCK_FILE
    assert find_lock(toml) is None
    write_lock(tmp_path / "p" / LOCK_FILE, [GIT])
    found = find_lock(toml)
    assert found is not None and list(found.plugins) == ["hipcheck/git"]


_TEXT = st.text(min_size=1, max_size=20)
_SEGMENT = st.text(min_size=1, max_size=10).filter(lambda s: "/" not in s)


@given(
    identity=st.tuples(_SEGMENT, _SEGMENT).map("/".join),
    distribution=_TEXT,
    version=_TEXT,
    artifacts=st.dictionaries(
        _TEXT,
        st.tuples(_TEXT, st.text("0123456789abcdef", min_size=64, max_size=64), st.text()),
        max_size=4,
    ),
)
def test_any_lock_reads_back_as_written(
    identity: str,
    distribution: str,
    version: str,
    artifacts: dict[str, tuple[str, str, str]],
) -> None:
    plugin = LockedPlugin(
        identity,
        distribution,
        version,
        tuple(LockedArtifact(n, v, h, s) for n, (v, h, s) in sorted(artifacts.items())),
    )
    parsed = tomllib.loads(render_lock([plugin]))
    table = parsed["plugins"][identity]
    assert (table["distribution"], table["version"]) == (distribution, version)
    assert [(a["name"], a["version"], a["sha256"], a["source"]) for a in table["artifacts"]] == [
        (a.name, a.version, a.sha256, a.source) for a in plugin.artifacts
    ]
