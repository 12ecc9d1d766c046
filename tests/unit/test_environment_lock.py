"""The locked environment: requirements.lock, pyproject.toml and environment.yml agree.

`make` installs requirements.lock; pyproject.toml keeps ranges for people who install memopt
into their own environment; environment.yml pins the lock's versions for conda. These tests
read the three files only (no network, no installed metadata).
"""

import functools
import re
import sys
from pathlib import Path

import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
ENVIRONMENT = ROOT / "environment.yml"

# The lock is universal; it must give one version of each package it needs on every
# supported CPython on each of the three systems.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
SYSTEMS = {
    "linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"},
    "darwin": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"},
    "win32": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"},
}
# environment.yml's pins make conda choose Python 3.12 or newer (see its header comment).
CONDA_PYTHONS = ["3.12", "3.13"]


def environment(python: str, system: str) -> dict[str, str]:
    """A marker environment for CPython `python` (a late patch release) on x86-64 `system`."""
    return {
        "python_version": python,
        "python_full_version": f"{python}.20",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_machine": "AMD64" if system == "win32" else "x86_64",
        **SYSTEMS[system],
    }


def lock_lines() -> list[str]:
    """The requirement lines of the lock: neither comments (uv's `# via` notes) nor blank."""
    lines = []
    for raw in LOCK.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


@functools.cache
def lock_pins() -> dict[str, list[tuple[Version, Marker | None]]]:
    """Each package of the lock with its pinned versions and the markers they hold under."""
    pins: dict[str, list[tuple[Version, Marker | None]]] = {}
    for line in lock_lines():
        requirement = Requirement(line)
        (specifier,) = requirement.specifier  # test_lock_pins_every_line checks the form
        pins.setdefault(canonicalize_name(requirement.name), []).append(
            (Version(specifier.version), requirement.marker)
        )
    return pins


def pinned(name: str, env: dict[str, str]) -> list[Version]:
    """The versions the lock installs for `name` in the marker environment `env`."""
    return [
        version
        for version, marker in lock_pins().get(canonicalize_name(name), [])
        if marker is None or marker.evaluate(env)
    ]


def project_requirements() -> list[Requirement]:
    """pyproject.toml's `dependencies` and its `book`, `test` and `sweep` extras: what make installs."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["book"] + extras["test"] + extras["sweep"]]


def conda_pins() -> dict[str, tuple[str, str]]:
    """environment.yml's packages (not python, pip or the pip section): name -> (spelling, version)."""
    document = yaml.safe_load(ENVIRONMENT.read_text(encoding="utf-8"))
    pins = {}
    for entry in document["dependencies"]:
        if not isinstance(entry, str):
            continue  # the `pip:` section, which installs memopt itself
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)", entry.strip())
        assert match, f"environment.yml: cannot read the entry {entry!r}"
        name, spec = match.groups()
        if canonicalize_name(name) in {"python", "pip"}:
            continue
        exact = re.fullmatch(r"==?\s*([0-9][A-Za-z0-9.+!-]*)", spec)
        assert exact, f"environment.yml: {name} is not pinned to one version ({entry!r})"
        pins[canonicalize_name(name)] = (name, exact.group(1))
    return pins


def test_lock_pins_every_line():
    """(c) Every line of the lock is `name==version`, optionally with an environment marker."""
    lines = lock_lines()
    assert len(lines) > 50, f"requirements.lock holds only {len(lines)} requirement lines"
    problems = []
    for line in lines:
        if line.startswith("-"):
            problems.append(f"{line!r}: an option, not a pinned requirement")
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        if (
            requirement.url
            or requirement.extras
            or len(specifiers) != 1
            or specifiers[0].operator != "=="
            or "*" in specifiers[0].version
        ):
            problems.append(f"{requirement.name}: {line!r} is not pinned to one exact version")
    assert not problems, "unpinned lines in requirements.lock:\n" + "\n".join(problems)


def test_lock_has_one_version_per_environment():
    """(c) No package is pinned twice for the same Python and system."""
    problems = []
    for name in lock_pins():
        for python in PYTHONS:
            for system in SYSTEMS:
                versions = pinned(name, environment(python, system))
                if len(versions) > 1:
                    shown = ", ".join(map(str, versions))
                    problems.append(f"{name} on Python {python}/{system}: {shown}")
    assert not problems, "packages pinned twice in requirements.lock:\n" + "\n".join(problems)


def test_lock_satisfies_pyproject():
    """(a) Each requirement of pyproject.toml is pinned, within its range, on every Python."""
    problems = []
    for requirement in project_requirements():
        name = canonicalize_name(requirement.name)
        if name not in lock_pins():
            problems.append(f"{name}: pyproject.toml requires {requirement.specifier}, "
                            "requirements.lock pins no version")
            continue
        for version, marker in lock_pins()[name]:
            if not requirement.specifier.contains(version, prereleases=True):
                where = f" ; {marker}" if marker else ""
                problems.append(f"{name}: pyproject.toml requires {requirement.specifier}, "
                                f"requirements.lock pins {version}{where}")
        for python in PYTHONS:
            for system in SYSTEMS:
                env = environment(python, system)
                if requirement.marker is not None and not requirement.marker.evaluate(env):
                    continue
                if not pinned(name, env):
                    problems.append(f"{name}: pyproject.toml requires {requirement.specifier}, "
                                    f"requirements.lock pins no version for Python {python}"
                                    f" on {system}")
    assert not problems, "requirements.lock disagrees with pyproject.toml:\n" + "\n".join(problems)


def test_environment_yml_matches_lock():
    """(b) Each package environment.yml lists has the lock's version (for the Python it gets)."""
    problems = []
    for name, (spelling, version) in conda_pins().items():
        for python in CONDA_PYTHONS:
            locked = pinned(name, environment(python, "linux"))
            if [Version(version)] != locked:
                shown = ", ".join(map(str, locked)) or "nothing"
                problems.append(f"{spelling}: environment.yml pins {version}, "
                                f"requirements.lock pins {shown} for Python {python}")
    assert not problems, "environment.yml disagrees with requirements.lock:\n" + "\n".join(problems)


def test_environment_yml_lists_the_direct_dependencies():
    """environment.yml lists exactly pyproject.toml's dependencies and book, test and sweep extras."""
    listed = set(conda_pins())
    required = {canonicalize_name(r.name) for r in project_requirements()}
    assert listed == required, (
        f"environment.yml lacks {sorted(required - listed)} and has extra {sorted(listed - required)}"
    )
