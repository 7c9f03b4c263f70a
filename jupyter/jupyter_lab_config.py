# JupyterLab settings for the course: `make lab` passes this file with --config, and the
# browser test (tests/test_browser.py) does the same.
# - the printed URL and the browser open lesson 00, not the Launcher;
# - the course's settings overrides (lab/settings/overrides.json): no news pop-up, no update
#   check (a learner offline should not be asked about either).
from pathlib import Path

_here = Path(__file__).resolve().parent
c.ServerApp.root_dir = str(_here.parent / "lessons")  # noqa: F821 (c is traitlets' config)
c.LabApp.default_url = "/lab/tree/00_welcome.ipynb"  # noqa: F821
c.LabApp.app_settings_dir = str(_here / "lab" / "settings")  # noqa: F821
