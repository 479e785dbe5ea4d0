"""Build hook: puts the server's price list into the package as pyflare/data/pricing.json.

The SDK's cost calculator must price exactly as the server does, so it reads the file the server
compiles in (Sources/PyFlareModel/Resources/pricing.json) rather than a copy kept by hand. Built
from the repository, the file is taken from there; built from an sdist (which carries the copy made
when the sdist was built), the copy inside it is used.
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SERVER_PRICING = Path("..", "..", "Sources", "PyFlareModel", "Resources", "pricing.json")
PACKAGED = Path("src", "pyflare", "data", "pricing.json")


class PricingHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        source = (root / SERVER_PRICING).resolve()
        if not source.is_file():
            # from an sdist: its copy, which the .gitignore that sdists carry would otherwise leave out
            source = root / PACKAGED
        if not source.is_file():
            raise FileNotFoundError(
                f"pricing data not found: neither {root / SERVER_PRICING} (building from the PyFlare "
                f"repository) nor {root / PACKAGED} (building from an sdist)"
            )
        target = "pyflare/data/pricing.json" if self.target_name == "wheel" else PACKAGED.as_posix()
        build_data["force_include"][str(source)] = target
