"""Installing the package prints no deprecation warnings, and the editable install is a plain path entry."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARNINGS = ("Deprecat", "SetuptoolsDeprecationWarning", "BuildBackendWarning")


def _fresh_venv(folder: Path) -> Path:
    """A new virtualenv that borrows this interpreter's pip and setuptools (so it installs offline)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # appended after the venv's own site-packages: the package installed here is found first
    (Path(purelib) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_editable_install_is_quiet_and_hook_free(tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # -v shows the build backend's own output, where setuptools prints its deprecation warnings
    install = subprocess.run([str(python), "-m", "pip", "install", "-v", "--no-deps", "--no-build-isolation",
                              "--no-input", "-e", str(ROOT)], capture_output=True, text=True, env=env)
    log = install.stdout + install.stderr
    assert install.returncode == 0, log[-3000:]
    assert "Successfully installed nni" in log
    found = [line for line in log.splitlines() if any(word in line for word in WARNINGS)]
    assert not found, "\n".join(found)
    probe = subprocess.run([str(python), "-c", "import sys, nni; print(nni.__file__); "
                            "print(any('editable' in type(f).__module__ or 'editable' in type(f).__name__ "
                            "for f in sys.meta_path))"],
                           cwd=tmp_path, capture_output=True, text=True, env=env, check=True)
    location, hooked = probe.stdout.split()
    assert Path(location) == ROOT / "nni" / "__init__.py"
    assert hooked == "False", "the editable install added an import hook"


def test_venv_script_installs_the_same_way():
    script = (ROOT / "scripts" / "venv.sh").read_text()
    assert 'pip install -q -e "$spec"\n' in script and "editable_mode" not in script
