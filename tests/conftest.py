import os
import sys

# the lesson's scripts live at the repo root and the lab's in lab/: `import model`, `import study`, ...
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lab"))
sys.path.insert(0, ROOT)


def copy_benchmark(folder, **counts):
    """A small copy of the benchmark (the first `counts[split]` problems of each split), so that
    a training step takes milliseconds. Returns the folder."""
    from data import DATA_DIR
    for name, n in counts.items():
        with open(os.path.join(DATA_DIR, f"{name}.jsonl")) as f, open(os.path.join(folder, f"{name}.jsonl"), "w") as g:
            g.writelines(f.readline() for _ in range(n))
    return folder
