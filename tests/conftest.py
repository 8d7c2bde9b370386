import os
import sys

# the scripts live at the repo root; make `import model`, `import sample`, ... work from tests/
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
