"""`.env.example` lists every variable the settings and commands read."""

import re

from tests.conftest import ROOT

READERS = re.compile(r'env_(?:str|int|bool|float|list|choice)\(\s*"([A-Z0-9_]+)"')
SOURCES = ["project/settings.py", *[str(p.relative_to(ROOT)) for p in ROOT.glob("*/management/commands/*.py")]]


def test_every_variable_read_is_documented() -> None:
    read = {name for source in SOURCES for name in READERS.findall((ROOT / source).read_text())}
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z0-9_]+)=", text, flags=re.MULTILINE))
    assert read, "no env reads found: the pattern no longer matches the settings"
    missing = read - listed - {"AWS_DEFAULT_REGION"}  # documented as AWS_REGION's fallback
    assert not missing, f"add to .env.example: {sorted(missing)}"
    assert "AWS_DEFAULT_REGION" in text
