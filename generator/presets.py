"""Organisation presets: one TOML file of answer defaults that every team starts from.

    # preset.toml
    template = "https://git.example.com/platform/gostarter-template.git"  # optional
    [defaults]
    module_prefix = "github.com/acme-corp"
    builder_image = "registry.acme.internal/mirror/golang:1.27"
    runtime_image = "registry.acme.internal/mirror/distroless/static-debian12:nonroot"
    maintainer = "Platform Team <platform@acme.example>"

The keys of [defaults] are the template's question names; values are checked
by the template's own validators. A preset is found, first match wins, at:
--preset FILE, $GOSTARTER_PRESET, $XDG_CONFIG_HOME/gostarter/preset.toml
(~/.config/...), /etc/gostarter/preset.toml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from generator import inputs, outputs
from generator.bootstrap import own_home
from generator.errors import PresetError

ENV_VAR = "GOSTARTER_PRESET"
SYSTEM_PRESET = Path("/etc/gostarter/preset.toml")
TOP_LEVEL_KEYS = {"template", "defaults"}
# What an organisation usually sets; `preset init` writes these.
ORGANISATION_KEYS = ("module_prefix", "builder_image", "runtime_image", "maintainer")


class Preset(NamedTuple):
    """A preset as read from its file (a NamedTuple, not a dataclass: the CLI's parser
    imports this module, and importing dataclasses costs more than `--help` itself)."""

    path: Path
    defaults: dict[str, Any]
    template: str | None = None


def user_preset_path() -> Path:
    """The user's preset, as shown in help texts (`~/.config/...` when there is no home of one's own)."""
    return user_preset_location() or Path("~") / ".config" / "gostarter" / "preset.toml"


def user_preset_location() -> Path | None:
    """Where the user's preset is read and `preset init` writes it: $XDG_CONFIG_HOME, else the
    user's own home; None when there is neither, so that nothing is read or written elsewhere."""
    config = os.environ.get("XDG_CONFIG_HOME")
    if config:
        return Path(config) / "gostarter" / "preset.toml"
    home = own_home()
    return home / ".config" / "gostarter" / "preset.toml" if home is not None else None


def locate(explicit: Path | None = None) -> tuple[Path | None, str]:
    """The preset file in force and where that choice came from."""
    if explicit is not None:
        return explicit, "--preset"
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env), f"${ENV_VAR}"
    for path, origin in ((user_preset_location(), "user config"), (SYSTEM_PRESET, "system config")):
        if path is not None and path.is_file():
            return path, origin
    return None, ""


def load(path: Path) -> Preset:
    """Read and check the shape of a preset; values are checked by `render.check_answers`."""
    import tomllib  # here, not at the top: the CLI's parser imports this module

    try:
        raw = tomllib.loads(inputs.read_text(path, what="preset", error=PresetError))
    except FileNotFoundError:
        raise PresetError(
            f"preset {path} does not exist", hint="gostarter preset init FILE writes one"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise PresetError(f"preset {path} is not valid TOML: {err}") from None
    except RecursionError:
        raise PresetError(f"preset {path} is nested too deeply to be a preset") from None
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise PresetError(
            f"unknown key {', '.join(unknown)} in preset {path}",
            hint="a preset holds `template` and a [defaults] table of answers",
        )
    template = raw.get("template")
    if template is not None and (not isinstance(template, str) or not template.strip()):
        raise PresetError(f"`template` in preset {path} must be a non-empty string")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        raise PresetError(f"`defaults` in preset {path} must be a table: [defaults]")
    for key, value in defaults.items():
        if not isinstance(value, (str, int, bool)):
            raise PresetError(f"defaults.{key} in preset {path} must be a string, integer or boolean")
    return Preset(path=path, defaults=dict(defaults), template=template)


def find(explicit: Path | None = None) -> Preset | None:
    """The preset in force, loaded, or None when there is none."""
    path, _ = locate(explicit)
    return load(path) if path is not None else None


def write(
    path: Path, defaults: Mapping[str, Any], *, template: str | None = None, force: bool = False
) -> None:
    """Write a preset file; never over an existing one unless `force`, never anything but a regular
    file (generator/outputs.py)."""
    outputs.check_target(path, what="preset")
    import tomli_w

    if path.exists() and not force:
        raise PresetError(f"{path} already exists", hint="pass --force to replace it")
    document: dict[str, Any] = {}
    if template:
        document["template"] = template
    document["defaults"] = dict(defaults)
    text = (
        "# gostarter organisation preset: answer defaults for `gostarter new`.\n"
        "# Keys of [defaults] are the template's questions (gostarter preset show lists them).\n"
        + tomli_w.dumps(document)
    )
    try:
        outputs.write_file(path, text.encode("utf-8"), what="preset", exclusive=not force)
    except FileExistsError:  # written by someone else since the check above
        raise PresetError(f"{path} already exists", hint="pass --force to replace it") from None
