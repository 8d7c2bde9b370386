"""Bad input never costs work: every probe below exits with a one-line message that names the
problem (no traceback), before any work starts, and leaves every file in out/ as it was.

The probes call each script's main() in-process (what `python SCRIPT ...` runs), so that forty of
them take seconds; a few run as real subprocesses to check exit code and stderr end to end."""
import builtins
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest
from conftest import ROOT, copy_benchmark
import torch

import atlas
import evaluate
import forks
import fsm
import model
import sample
import study
import train
from model import GPT, GPTConfig, checksum, load_checkpoint, param_shapes

TINY = ["--n_layer=1", "--n_head=2", "--n_embd=32", "--block_size=192", "--batch_size=8", "--max_steps=6",
        "--warmup_steps=1", "--eval_interval=3", "--ckpt_interval=3", "--ssd_batch_size=8",
        "--eval_temperatures=0,1", "--eval_n=2"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A finished tiny demo in out/ (base.pt, ssd.pt, reports), its data, and broken files beside it."""
    root = tmp_path_factory.mktemp("lab")
    (root / "data").mkdir()
    data = copy_benchmark(root / "data", pretrain=24, val=6, ssd=10, test=6)
    out = root / "out"
    train.main(TINY + [f"--data_dir={data}", f"--out_dir={out}"])
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.pt").write_bytes(b"")
    (bad / "text.pt").write_text("this is not a checkpoint\n")
    (bad / "truncated.pt").write_bytes((out / "base.pt").read_bytes()[:5000])
    (bad / "folder.pt").mkdir()
    (bad / "flipped.pt").write_bytes(flip_tensor_bytes((out / "base.pt").read_bytes(), 2000))
    (bad / "file").write_text("a file, not a folder\n")
    for name in ("nothing", "empty_data"):
        (bad / name).mkdir()
    for name in ("pretrain", "val", "ssd"):          # everything but test.jsonl
        (bad / "empty_data" / f"{name}.jsonl").write_text((data / f"{name}.jsonl").read_text())
    first = (data / "test.jsonl").read_text().splitlines()[0]
    (bad / "samples.jsonl").write_text(json.dumps({"task_id": "test/0", "completion": "    return 0\n"}) + "\n")
    (bad / "bignum.jsonl").write_text('{"task_id": "test/0", "completion": ' + "7" * 5000 + "}\n")
    (bad / "deep.jsonl").write_text('{"task_id": "test/0", "completion": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    (bad / "twice.jsonl").write_text(f"{first}\n{first}\n")
    return {"root": root, "data": data, "out": out, "bad": bad}


def flip_tensor_bytes(blob, count):
    """The checkpoint with `count` bytes inverted inside its largest tensor (torch.load does not notice)."""
    z = zipfile.ZipFile(io.BytesIO(blob))
    big = max(z.infolist(), key=lambda i: i.file_size)
    head = big.header_offset
    start = head + 30 + int.from_bytes(blob[head + 26:head + 28], "little") + int.from_bytes(blob[head + 28:head + 30], "little")
    data = bytearray(blob)
    for i in range(start + 100, start + 100 + count):
        data[i] ^= 0xFF
    return bytes(data)


def snapshot(folder):
    return {p: hashlib.sha256(open(p, "rb").read()).hexdigest()
            for p in (os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)}


def probes(lab):
    """(script, main, argv, what the message must name)."""
    d, out, bad = lab["data"], lab["out"], lab["bad"]
    t = ["train.py", train.main, TINY + [f"--data_dir={d}", f"--out_dir={out}"]]
    e = ["evaluate.py", evaluate.main, [f"--problems={d}/test.jsonl"]]
    s = ["sample.py", sample.main, []]
    ck = f"--ckpt={out}/base.pt"
    sm = [f"--problems={d}/test.jsonl", f"--samples={bad}/samples.jsonl"]   # judging would run at once
    return [
        (*t[:2], t[2] + ["--max_steps=0"], "must be > 0"),
        (*t[:2], t[2] + ["--lr=-1"], "must be > 0"),
        (*t[:2], t[2] + ["--n_embd=30", "--n_head=4"], "multiple of --n_head"),
        (*t[:2], t[2] + ["--dropout=1.5"], "--dropout < 1"),
        (*t[:2], t[2] + ["--ssd_min_p=1.5"], "min_p"),
        (*t[:2], t[2] + ["--ssd_top_p=0"], "must be > 0"),
        (*t[:2], t[2] + ["--eval_temperatures=0,hot"], "comma-separated"),
        (*t[:2], t[2] + ["--data_sizes=1,2"], "four positive counts"),
        (*t[:2], t[2] + ["--seed=abc"], "invalid int"),
        (*t[:2], t[2] + ["--max_steps=12"], "made with other settings"),
        (*t[:2], t[2] + ["--resume", "--lr=0.1", "--seed=99"], "--resume continues a run only with"),
        (*t[:2], t[2] + [f"--data_dir={bad}/missing"], "has no pretrain.jsonl"),
        (*t[:2], t[2] + [f"--data_dir={bad}/nothing"], "has no pretrain.jsonl"),
        (*t[:2], t[2] + [f"--data_dir={bad}/empty_data", f"--out_dir={bad}/new_out"], "has no test.jsonl"),
        (*t[:2], t[2] + [f"--out_dir={bad}/file/out"], "cannot make --out_dir"),
        (*t[:2], t[2] + ["--stage=eval", "--run=nope"], "no checkpoint at"),
        (*t[:2], t[2] + ["--stage=ssd", "--ssd_temperature=1.2"], "SSD model made with other settings"),
        (*e[:2], e[2] + ["--samples=x.jsonl", "--memory_mb=0"], "--memory_mb"),
        (*e[:2], e[2] + ["--samples=x.jsonl", "--memory_mb=-5"], "--memory_mb"),
        (*e[:2], e[2] + [ck, "--max_new_tokens=0"], "--max_new_tokens"),
        (*e[:2], e[2] + [ck, "--batch_size=0"], "--batch_size"),
        (*e[:2], e[2] + [ck, "--top_p=0"], "top_p"),
        (*e[:2], e[2] + [ck, "--top_p=1.5"], "top_p"),
        (*e[:2], e[2] + [ck, "--top_k=-1"], "top_k"),
        (*e[:2], e[2] + [ck, "--min_p=2"], "min_p"),
        (*e[:2], e[2] + [f"--ckpt={bad}/empty.pt"], "empty.pt is not a checkpoint"),
        (*e[:2], e[2] + [f"--ckpt={bad}/text.pt"], "text.pt is not a checkpoint"),
        (*e[:2], e[2] + [f"--ckpt={bad}/folder.pt"], "is a directory"),
        (*e[:2], e[2] + [f"--ckpt={bad}/flipped.pt"], "corrupted"),
        (*e[:2], e[2] + [ck, f"--out={bad}/missing/results.jsonl"], "its folder does not exist"),
        (*e[:2], e[2] + [ck, f"--out={bad}"], "is a directory"),
        (*e[:2], e[2], "either --samples"),
        (*e[:2], e[2] + [ck, "--device=gpu7"], "not a device"),
        (*s[:2], [ck, "--prompt="], "the prompt is empty"),
        (*s[:2], [ck, "--prompt=" + "x = 1\\n" * 200], "the model sees at most"),
        (*s[:2], [f"--ckpt={bad}/truncated.pt"], "truncated.pt is not a checkpoint"),
        (*s[:2], [ck, "--temperature=-1"], "temperature"),
        (*s[:2], [ck, "--temperature=nan"], "temperature"),
        (*s[:2], [ck, "--task=nosuch/3"], "the split must be"),
        ("forks.py", forks.main, [ck, f"--report={bad}/missing/forks.json"], "its folder does not exist"),
        ("forks.py", forks.main, [ck, f"--compare={bad}/text.pt"], "text.pt is not a checkpoint"),
        ("fsm.py", fsm.main, ["--top_p=0"], "top_p"),
        ("fsm.py", fsm.main, ["--samples=0"], "--samples"),
        # numbers: finite, in range (nan passes every `x < low` check; the sandbox's limits have a ceiling)
        (*t[:2], t[2] + ["--lr=nan"], "--lr: must be a finite number"),
        (*t[:2], t[2] + ["--lr=inf"], "--lr: must be a finite number"),
        (*t[:2], t[2] + ["--ssd_epochs=inf"], "--ssd_epochs: must be a finite number"),
        (*t[:2], t[2] + ["--eval_temperatures=0,nan"], "must be a finite number"),
        (*e[:2], [*sm, "--timeout=nan"], "--timeout: must be a finite number"),
        (*e[:2], [*sm, "--timeout=inf"], "--timeout: must be a finite number"),
        (*e[:2], [*sm, "--timeout=1e308"], "--timeout: must be <= 600"),
        (*e[:2], [*sm, "--memory_mb=1e12"], "--memory_mb: not an integer"),
        (*e[:2], [*sm, f"--memory_mb={10 ** 13}"], "--memory_mb: must be <="),
        (*e[:2], [*sm, "--memory_mb=1"], "--memory_mb: must be >= 64"),
        (*e[:2], [*sm, "--workers=100000"], "--workers: must be <= 64"),
        (*e[:2], e[2] + [ck, "--temperatures=0.2,inf"], "must be a finite number"),
        (*s[:2], [ck, "--top_p=nan"], "--top_p: must be a finite number"),
        ("fsm.py", fsm.main, ["--lr=inf", "--samples=1e12"], "--lr: must be a finite number"),
        ("fsm.py", fsm.main, ["--samples=1000000000000"], "--samples: must be <= 10000000"),
        ("fsm.py", fsm.main, ["--T_train=inf"], "--T_train: must be a finite number"),
        ("fsm.py", fsm.main, ["--T_train=1000"], "--T_train: must be <= 100"),
        # files: JSON that Python cannot hold, a task_id twice
        (*e[:2], [f"--problems={d}/test.jsonl", f"--samples={bad}/bignum.jsonl"],
         "bignum.jsonl:1: not usable JSON (Exceeds the limit (4300 digits)"),
        (*e[:2], [f"--problems={d}/test.jsonl", f"--samples={bad}/deep.jsonl"],
         "deep.jsonl:1: not usable JSON (nested too deeply)"),
        (*e[:2], [f"--problems={bad}/twice.jsonl", f"--samples={bad}/samples.jsonl"],
         "twice.jsonl:2: task_id 'test/0' again (first on line 1)"),
        # the study and the atlas: nothing to summarize; train.py's options checked before the first run
        ("study.py", study.main, ["--summarize", f"--out={bad}/nothing"], "no study has run in"),
        ("study.py", study.main, ["--summarize", f"--out={bad}/missing"], "no study has run in"),
        ("study.py", study.main, ["--seeds=0", "--only=ssd", f"--out={bad}/study", "--lr=nan"], "must be a finite number"),
        ("atlas.py", atlas.main, ["--questions=rounds", "--summarize", f"--out={bad}/nothing"], "no reports of these questions"),
        ("atlas.py", atlas.main, ["--questions=rounds", f"--out={bad}/atlas", "--ssd_lr=inf"], "must be a finite number"),
    ]


def error_line(e, capsys, where):
    """The one line a SystemExit said: its message, or argparse's last line on stderr (after usage)."""
    err = capsys.readouterr().err
    message = e.value.code if isinstance(e.value.code, str) else err.strip().splitlines()[-1]
    assert e.value.code not in (0, None), where
    assert "Traceback" not in err and "\n" not in message.strip(), where
    return message


def test_every_bad_input_is_a_one_line_error_and_changes_nothing(lab, capsys, monkeypatch):
    monkeypatch.chdir(lab["root"])
    before = snapshot(lab["out"])
    cases = probes(lab)
    assert len(cases) >= 30
    for script, main, argv, named in cases:
        with pytest.raises(SystemExit) as e:
            main(argv)
        where = f"{script} {' '.join(argv)}"
        message = error_line(e, capsys, where)
        assert "error" in message and named in message, f"{where}: {message}"
        assert snapshot(lab["out"]) == before, f"{where} changed out/"
    assert not os.path.exists(lab["bad"] / "new_out" / "base.pt")       # refused before pretraining
    assert not os.path.exists(lab["bad"] / "samples.jsonl_results.jsonl")   # refused before judging
    assert not os.path.exists(lab["bad"] / "study") and not os.path.exists(lab["bad"] / "atlas")   # before any run


@pytest.mark.parametrize("argv,named", [
    (["train.py", "--max_steps=12"], "made with other settings"),
    (["evaluate.py", "--samples=x.jsonl", "--memory_mb=0"], "--memory_mb"),
    (["sample.py", "--prompt="], "the prompt is empty"),
])
def test_as_a_real_command_the_error_is_the_last_line_of_stderr_with_a_nonzero_exit(lab, argv, named):
    # (argparse's own errors come after its usage lines; ours are the only line)
    script, rest = argv[0], argv[1:]
    if script == "train.py":
        rest = TINY + [f"--data_dir={lab['data']}", f"--out_dir={lab['out']}"] + rest
    if script == "sample.py":
        rest = [f"--ckpt={lab['out']}/base.pt"] + rest
    r = subprocess.run([sys.executable, os.path.join(ROOT, script), *rest], cwd=lab["root"], capture_output=True,
                       text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and "error" in lines[-1] and named in lines[-1] and "Traceback" not in r.stderr
    assert all(line.startswith(("usage:", " ")) for line in lines[:-1])


class RunsCode:
    """What a crafted checkpoint can carry: unpickling it with weights_only=False calls open(path, 'w')."""
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return builtins.open, (self.path, "w")


def test_a_crafted_checkpoint_runs_no_code_and_is_a_one_line_error(lab, tmp_path, capsys):
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted.pt"
    ckpt = torch.load(lab["out"] / "base.pt", weights_only=True)
    torch.save({**ckpt, "surprise": RunsCode(str(marker))}, crafted)
    with pytest.raises(SystemExit) as e:
        sample.main([f"--ckpt={crafted}", "--prompt=def f(xs):\\n"])
    assert "crafted.pt is not a checkpoint" in e.value.code and "\n" not in e.value.code
    assert not marker.exists()                                       # nothing ran
    torch.load(crafted, weights_only=False)["surprise"].close()      # the same file, loaded unsafely: code runs
    assert marker.exists()


def test_a_checkpoint_changed_after_saving_is_refused_by_its_checksum(lab, tmp_path):
    ckpt = torch.load(lab["out"] / "base.pt", weights_only=True)
    ckpt["model"]["wte.weight"][0, 0] += 1.0                         # one weight, saved without a new checksum
    torch.save(ckpt, tmp_path / "edited.pt")
    with pytest.raises(SystemExit, match="corrupted"):
        load_checkpoint(str(tmp_path / "edited.pt"))
    assert load_checkpoint(str(lab["out"] / "base.pt"))["step"] == 6   # the intact one loads


def test_overwrite_replaces_a_finished_model_only_when_asked(lab, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(lab["out"], out)
    args = TINY + [f"--data_dir={lab['data']}", f"--out_dir={out}", "--stage=pretrain"]
    with pytest.raises(SystemExit, match="--overwrite"):
        train.main(args + ["--max_steps=4"])
    train.main(args + ["--max_steps=4", "--overwrite"])
    assert torch.load(out / "base.pt", weights_only=True)["step"] == 4


def test_an_unfinished_run_is_continued_or_restarted_only_when_asked(lab, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(lab["out"], out)
    ckpt = torch.load(out / "base.pt", weights_only=True)
    ckpt["step"] = 3
    ckpt["checksum"] = checksum({k: v for k, v in ckpt.items() if k != "checksum"})
    torch.save(ckpt, out / "base.pt")
    args = TINY + [f"--data_dir={lab['data']}", f"--out_dir={out}", "--stage=pretrain"]
    with pytest.raises(SystemExit, match="unfinished run with these settings.*--resume continues it"):
        train.main(args)
    train.main(args + ["--resume"])
    assert torch.load(out / "base.pt", weights_only=True)["step"] == 6


def test_a_model_without_a_record_of_its_settings_is_kept_and_the_message_says_why(lab, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(lab["out"], out)
    ckpt = torch.load(out / "ssd.pt", weights_only=True)
    del ckpt["fingerprint"], ckpt["checksum"]                        # a model whose settings are unknown
    ckpt["checksum"] = checksum(ckpt)
    torch.save(ckpt, out / "ssd.pt")
    with pytest.raises(SystemExit, match="no record of its settings.*--overwrite"):
        train.main(TINY + [f"--data_dir={lab['data']}", f"--out_dir={out}", "--stage=ssd"])


def test_the_weight_shapes_a_config_implies_are_those_of_a_real_gpt():
    cfg = GPTConfig(vocab_size=50, block_size=12, n_layer=3, n_head=2, n_embd=8)
    assert {k: tuple(v.shape) for k, v in GPT(cfg).state_dict().items()} == param_shapes(cfg)


@pytest.mark.parametrize("change,named", [
    ({"n_head": 3}, "n_embd (32) is not a multiple of n_head (3)"),
    ({"n_head": 0}, "n_head must be a whole number >= 1, got 0"),
    ({"n_embd": 2 ** 22}, "wte.weight should be a float tensor of shape (1024, 4194304)"),   # 16 GiB if built
    ({"block_size": 500}, "wpe.weight should be a float tensor of shape (500, 32)"),
    ({"n_layer": 10 ** 9}, "a GPT of 1000000000 layers has"),
    ({"dropout": float("nan")}, "dropout must be in [0, 1)"),
])
def test_a_crafted_config_is_refused_before_any_model_is_built(lab, tmp_path, monkeypatch, change, named):
    # the checksum needs no secret: a crafted file carries a valid one, so only the numbers can tell
    ckpt = torch.load(lab["out"] / "base.pt", weights_only=True)
    ckpt["config"].update(change)
    ckpt["checksum"] = checksum({k: v for k, v in ckpt.items() if k != "checksum"})
    torch.save(ckpt, tmp_path / "crafted.pt")
    monkeypatch.setattr(model.GPT, "__init__", lambda *a, **k: pytest.fail("a GPT was built (and allocated)"))
    with pytest.raises(SystemExit) as e:
        sample.main([f"--ckpt={tmp_path / 'crafted.pt'}"])
    assert "crafted.pt is not a model this project can build" in e.value.code and named in e.value.code
    assert "\n" not in e.value.code


def test_a_model_with_nan_weights_is_refused_by_name(lab, tmp_path):
    ckpt = torch.load(lab["out"] / "base.pt", weights_only=True)
    ckpt["model"]["ln_f.weight"][3] = float("nan")                 # what a diverged run would have saved
    ckpt["checksum"] = checksum({k: v for k, v in ckpt.items() if k != "checksum"})
    torch.save(ckpt, tmp_path / "nan.pt")
    with pytest.raises(SystemExit) as e:
        sample.main([f"--ckpt={tmp_path / 'nan.pt'}"])
    assert e.value.code.endswith("its weight ln_f.weight holds nan or inf (a training run that diverged?)")


def test_a_model_for_another_vocabulary_is_refused_with_both_sizes(lab, tmp_path):
    # a consistent, checksummed model of 1,000 tokens: whole, but its ids would be another tokenizer's
    ckpt = torch.load(lab["out"] / "base.pt", weights_only=True)
    ckpt["config"]["vocab_size"] = 1000
    for name in ("wte.weight", "lm_head.weight"):
        ckpt["model"][name] = ckpt["model"][name][:1000].clone()
    ckpt["checksum"] = checksum({k: v for k, v in ckpt.items() if k != "checksum"})
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(SystemExit) as e:
        sample.main([f"--ckpt={tmp_path / 'other.pt'}"])
    assert "vocabulary of 1000 tokens, the project's tokenizer has 1024" in e.value.code
    assert "\n" not in e.value.code


def test_forks_on_a_model_too_weak_to_have_locks_leaves_those_rows_blank(lab, tmp_path, capsys):
    # six steps of training: every position is above 3 bits, so there is no lock to measure at
    report = tmp_path / "forks.json"
    out = forks.main([f"--ckpt={lab['out']}/base.pt", "--problems=3", f"--report={report}"])
    assert out["base"]["share_locks"] == 0 and out["base"]["tail_beyond_top1_at_locks"] is None
    assert out["base"]["fork_entropy"] > 3
    printed = capsys.readouterr().out
    assert "base has no locks on these solutions" in printed and "tokens surviving truncation, at forks" in printed
    assert json.loads(report.read_text())["base"]["entropy_at_locks_T1"] is None


def can_write(folder):
    try:
        (folder / "probe").write_text("")
        (folder / "probe").unlink()
        return True
    except OSError:
        return False


@pytest.fixture
def read_only(tmp_path):
    """A folder in which no file can be made, even by root: chmod, and chattr +i where root
    ignores the mode bits (os.access says yes to both as root)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if can_write(folder):
        try:
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        except FileNotFoundError:
            pass
    if can_write(folder):
        pytest.skip("no way to make a read-only folder here")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_an_output_in_a_read_only_folder_is_refused_before_judging_or_training(lab, read_only, monkeypatch, capsys):
    monkeypatch.setattr(evaluate, "judge", lambda *a, **k: pytest.fail("judged before checking --out"))
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("trained before checking --out_dir"))
    d, bad = lab["data"], lab["bad"]
    for main, argv, named in [
            (evaluate.main, [f"--problems={d}/test.jsonl", f"--samples={bad}/samples.jsonl",
                             f"--out={read_only}/results.jsonl"], "--out="),
            (forks.main, [f"--ckpt={lab['out']}/base.pt", f"--report={read_only}/forks.json"],
             "--report="),
            (train.main, TINY + [f"--data_dir={d}", f"--out_dir={read_only}"], "--out_dir="),
            (train.main, TINY + [f"--data_dir={d}", f"--out_dir={read_only}", "--stage=pretrain"], "--out_dir="),
            (study.main, ["--seeds=0", "--only=ssd", f"--out={read_only}"], "--out=")]:
        with pytest.raises(SystemExit) as e:
            main(argv)
        message = error_line(e, capsys, argv)
        assert named in message and "cannot write there" in message, message


def test_without_linux_train_and_evaluate_stop_before_any_work(lab, tmp_path, monkeypatch, capsys):
    """The sandbox needs Linux (docs/evaluator.md): on macOS the demo must not train for minutes
    and then die at its evaluation."""
    import sandbox.parent
    monkeypatch.setattr(sandbox.parent.sys, "platform", "darwin")
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("trained before the platform was checked"))
    monkeypatch.setattr(evaluate, "sweep", lambda *a, **k: pytest.fail("sampled before the platform was checked"))
    d = lab["data"]
    for main, argv in [(train.main, TINY + [f"--data_dir={d}", f"--out_dir={tmp_path}/out"]),
                       (evaluate.main, [f"--problems={d}/test.jsonl", f"--ckpt={lab['out']}/base.pt",
                                        f"--out={tmp_path}/eval.jsonl"])]:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert "needs Linux >= 5.3 (or WSL 2), not darwin" in error_line(e, capsys, argv)
    import config
    import runs
    assert runs.preflight(config.get_args(TINY + [f"--data_dir={d}", f"--out_dir={tmp_path}/pre",
                                                  "--stage=pretrain"])) == "train"      # no judging: allowed


def test_a_failed_train_py_inside_the_study_or_the_atlas_is_one_line_naming_it(lab, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(ROOT)                  # the study runs `python train.py` from the repository
    with pytest.raises(SystemExit) as e:
        study.main(["--seeds=0", "--only=ssd", f"--out={tmp_path}", f"--data_dir={lab['bad']}/nothing"])
    assert e.value.code.startswith("error: `python train.py --seed=0 ") and "--run=ssd" in e.value.code
    assert e.value.code.endswith("failed with exit code 1 (its output is above)")
    assert "has no pretrain.jsonl" in capfd.readouterr().err          # train.py's own message, just above
    with pytest.raises(SystemExit, match=r"^error: `python train.py --seed=0 .*` failed with exit code 1"):
        atlas.train(["--seed=0", f"--out_dir={tmp_path}", f"--data_dir={lab['bad']}/nothing"])
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("script", ["fsm.py", "sample.py", "evaluate.py"])
def test_a_reader_that_stops_early_ends_the_output_quietly(lab, script):
    # like `python SCRIPT | head -1`: the pipe is closed before the script writes its first line
    args = {"fsm.py": ["--no_train"], "sample.py": [f"--ckpt={lab['out']}/base.pt"],
            "evaluate.py": [f"--problems={lab['data']}/test.jsonl", f"--samples={lab['bad']}/samples.jsonl",
                            f"--out={lab['root']}/pipe_results.jsonl", "--ks=1"]}[script]
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, script), *args], cwd=lab["root"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and err == "", err


def test_ctrl_c_while_judging_is_one_line_and_exit_code_130(lab, tmp_path):
    (tmp_path / "slow.jsonl").write_text(json.dumps({"task_id": "test/0", "completion": "    import time\n"
                                                     "    time.sleep(6)\n"}) + "\n")
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "evaluate.py"), f"--problems={lab['data']}/test.jsonl",
                          f"--samples={tmp_path}/slow.jsonl", "--timeout=30", "--ks=1"], cwd=lab["root"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(3)                            # judging: Ctrl-C comes while the program sleeps
    os.killpg(p.pid, signal.SIGINT)          # what Ctrl-C sends: the whole foreground process group
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err.decode().strip() == "interrupted", err.decode()
