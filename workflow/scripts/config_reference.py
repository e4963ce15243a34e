"""Write docs/configuration.md, the parameter reference: every key of params.yaml with its type (from the
schema), its value in the default run (the top level, the cpu scale), in the paper and tiny scales where they
differ, and what it does (the comment beside it in params.yaml, else the schema's description).

    python workflow/scripts/config_reference.py           # rewrite docs/configuration.md
    python workflow/scripts/config_reference.py --check   # exit 1 if it is out of date (the tests run this)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from defmo.config import SCHEMA_DIR, SCHEMA_FILE, _resolve

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "configuration.md"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_+][\w+.-]*):(?P<rest>.*)$")


def comments(text: str) -> dict[str, str]:
    """Dotted key -> its comment in params.yaml (the comment on its line, else the comment lines just above it),
    for the top-level sections (up to ``scales:``)."""
    out, stack, pending = {}, [], []
    for line in text.splitlines():
        if line.startswith("scales:"):
            break
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("# ").strip())
            continue
        match = KEY.match(line)
        if not match or stripped.startswith("-"):
            pending = [] if not stripped else pending
            continue
        depth = len(match["indent"]) // 2
        stack = stack[:depth] + [match["key"]]
        rest = match["rest"]
        note = rest.split(" # ", 1)[1].strip() if " # " in rest else ""
        out[".".join(stack)] = note or " ".join(pending)
        pending = []
    return out


def _schema(node: dict, registry_dir: Path) -> dict:
    if "$ref" in node:
        return yaml.safe_load((registry_dir / node["$ref"]).read_text())
    return node


def _type(node: dict) -> str:
    if "enum" in node:
        return " \\| ".join(str(v) for v in node["enum"])
    kind = node.get("type", "")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def leaves(value, schema: dict, prefix: str, registry_dir: Path):
    """(dotted key, schema node) of every leaf of ``value`` (a resolved section), in file order."""
    schema = _schema(schema, registry_dir)
    if isinstance(value, dict) and value:
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            node = props.get(key, extra if isinstance(extra, dict) else {})
            yield from leaves(child, node, f"{prefix}.{key}" if prefix else key, registry_dir)
    else:
        yield prefix, schema


def _show(value) -> str:
    return "`" + yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip() + "`"


def _get(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def reference(params: Path) -> str:
    text = params.read_text()
    raw = yaml.safe_load(text)
    notes = comments(text)
    schema = yaml.safe_load((SCHEMA_DIR / SCHEMA_FILE).read_text())
    scales = {name: _resolve(raw, name, str(params)) for name in raw["scales"]}
    default = scales[raw["scale"]]
    lines = ["# Configuration reference", "",
             "Generated from `params.yaml` and its schema (`src/defmo/schemas/`) by "
             "`python workflow/scripts/config_reference.py`; do not edit. The default run uses the top level "
             f"(scale `{raw['scale']}`); the other scales' values are shown where they differ. Edit a value in "
             "`params.yaml`, override it for one run (`--set key=value`, `snakemake --config`), or try it as an "
             "experiment (`dvc exp run -S key=value`). Why each cpu value: "
             "[CPU_TRAINING.md](CPU_TRAINING.md#why-each-cpu-scale-value).", ""]
    others = [n for n in scales if n != raw["scale"]]
    header = ["| key | type | default | " + " | ".join(others) + " | what it does |",
              "|---|---|---|" + "---|" * len(others) + "---|"]

    def rows(section: str) -> list[str]:
        out = []
        for dotted, leaf in leaves(default[section], schema["properties"].get(section, {}), section, SCHEMA_DIR):
            mine = _get(default, dotted)
            cells = [_show(_get(scales[n], dotted)) if _get(scales[n], dotted) != mine else "" for n in others]
            note = notes.get(dotted) or leaf.get("description", "")
            out.append(f"| `{dotted}` | {_type(leaf)} | {_show(mine)} | " + " | ".join(cells)
                       + f" | {note.replace('|', '/')} |")
        return out

    scalars = [k for k in raw if k != "scales" and not isinstance(raw[k], dict)]
    lines += ["## Top-level keys", "", *header] + [r for k in scalars for r in rows(k)] + [""]
    for section in [k for k in raw if k != "scales" and isinstance(raw[k], dict)]:
        described = _schema(schema["properties"].get(section, {}), SCHEMA_DIR).get("description")
        lines += [f"## `{section}`", ""] + ([described[0].upper() + described[1:] + ".", ""] if described else [])
        lines += [*header, *rows(section), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/configuration.md is out of date")
    args = parser.parse_args()
    text = reference(ROOT / "params.yaml")
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python workflow/scripts/config_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
