# Runs Autobahn|Testsuite's wstest (Python 2.7) from a folder installed with `pip --target`:
# namespace packages such as `zope` need site.addsitedir, not PYTHONPATH.
# usage: python2.7 wstest.py SITE_DIR wstest-args...
import site
import sys

site.addsitedir(sys.argv.pop(1))
from autobahntestsuite.wstest import run  # noqa: E402

sys.exit(run())
