"""Cleaning up after a program: kill what it left running, remove what it left on disk and in IPC.

Run by the zygote after every program (and by the parent for its temporary folder), so nothing
here may be stopped by what a program left: no recursion however deep its directories go, no
exception out of a cleanup, directories it locked (chmod 000) opened again.
"""
import errno
import os
import signal
import stat
import time

from sandbox.common import SHARED_DIRS, libc

_shared_seen = {}


# --- processes --------------------------------------------------------------------------------
def kill_group(pgid):
    try:
        if pgid != os.getpgrp():
            os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def reap_orphans():
    """Kill every descendant that was re-parented to us, again and again (killing one orphans
    its children), until none is left."""
    me, deadline = os.getpid(), time.monotonic() + 10
    while time.monotonic() < deadline:                # a chain that forks as fast as we kill ends too
        try:
            with open(f"/proc/{me}/task/{me}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:                                # a kernel without CONFIG_PROC_CHILDREN
            kids = []
        if not kids:
            return
        for k in kids:
            try:
                kill_group(os.getpgid(k))
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for k in kids:
            try:
                os.waitpid(k, 0)
            except ChildProcessError:
                pass


# --- files --------------------------------------------------------------------------------------
def remove_tree(path):
    """Remove `path` and all under it, however deep, with no recursion and two open fds: each
    subdirectory's entries are moved up into the top directory (renames within one filesystem),
    then the emptied subdirectory is removed, until the top holds only files. Never follows a
    symlink. Returns whether `path` is gone."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return True
        _enterable(path)
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        _empty(top)
    except OSError:
        pass
    finally:
        os.close(top)
    try:
        os.rmdir(path)
    except OSError:
        return not os.path.lexists(path)
    return True


def _empty(top):
    moved, n = True, 0
    while moved:
        moved = False
        for entry in list(os.scandir(top)):
            if not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.name, dir_fd=top)
                continue
            _enterable(entry.name, top)
            sub = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
            try:
                for inner in list(os.scandir(sub)):
                    if inner.is_dir(follow_symlinks=False):
                        _enterable(inner.name, sub)    # moving a directory rewrites its ".."
                    while True:                        # a name not taken in the top directory
                        n += 1
                        try:
                            os.rename(inner.name, f".rm-{n}", src_dir_fd=sub, dst_dir_fd=top)
                            break
                        except OSError as e:
                            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                                raise
            finally:
                os.close(sub)
            os.rmdir(entry.name, dir_fd=top)
            moved = True


def _enterable(name, dir_fd=None):
    """Not as root (root enters anything): make a directory that a program locked enterable again."""
    if os.geteuid() != 0:
        try:
            os.chmod(name, 0o700, dir_fd=dir_fd)
        except OSError:
            pass


def empty_dir(path, uid, set_aside=False):
    """An empty directory, mode 700, of `uid`: `path` itself if the last program left it clean
    (usually: a rmdir + mkdir costs ~1.5 ms on ext4), else emptied, or failing that a new one.
    set_aside: what is there is only renamed (path.old.N), for the parent to remove at the end
    (a new worker must not spend its start removing what a killed one left)."""
    try:
        st = os.stat(path, follow_symlinks=False)
        if st.st_mode == 0o40700 and st.st_uid == (os.getuid() if uid is None else uid) and not os.listdir(path):
            return path
    except OSError:
        pass
    if set_aside and os.path.lexists(path):
        try:
            os.rename(path, f"{path}.old.{time.monotonic_ns()}")
        except OSError:
            pass
    if not remove_tree(path):
        head, name = os.path.split(path)
        path = os.path.join(head, f"{name.split('.')[0]}.{time.monotonic_ns()}")
    os.mkdir(path, 0o700)
    if uid is not None:
        os.chown(path, uid, uid)
    return path


def clean_shared(uid, again=False):
    """As root, after a program: remove what its uid left in the world-writable directories (none
    of its processes is left to add more). A directory is listed again only if its mtime changed
    since we last listed it, and that mtime was already old then (timestamps are coarse: a recent
    one does not prove that nothing was added since); `again` lists them all. Returns whether
    nothing of the uid's is left there."""
    clean = True
    for d in SHARED_DIRS:
        try:
            mtime = os.stat(d).st_mtime_ns
            if _shared_seen.get(d) == mtime and not again:
                continue
            for entry in os.scandir(d):
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    clean = remove_tree(entry.path) and clean
            _shared_seen[d] = mtime if time.time_ns() - mtime > 100_000_000 else None
        except OSError:
            continue
    return clean


# --- System V IPC -------------------------------------------------------------------------------
IPC_RMID = 0
_IPC = (("shm", "shmid", "shmctl"), ("msg", "msqid", "msgctl"), ("sem", "semid", "semctl"))


def clean_ipc(uid):
    """As root: remove the System V shared memory, message queues and semaphores that `uid`
    owns or created; they would outlive its programs (a channel from one to the next, and memory
    that no limit counts). In the zygote's own IPC namespace none can be made: then there is none."""
    c = libc()
    for kind, id_name, ctl in _IPC:
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                header, *rows = [line.split() for line in f]
        except OSError:
            continue
        col = {name: i for i, name in enumerate(header)}
        for row in rows:
            if c is not None and uid in (int(row[col["uid"]]), int(row[col["cuid"]])):
                if kind == "sem":
                    getattr(c, ctl)(int(row[col[id_name]]), 0, IPC_RMID)
                else:
                    getattr(c, ctl)(int(row[col[id_name]]), IPC_RMID, None)


def private_ipc():
    """As root, in the zygote: an IPC namespace of its own with room for no System V object, so
    that no program can make one (what they would share dies with the worker). False where the
    kernel or the container does not allow it: then clean_ipc removes them after each program."""
    c = libc()
    if c is None or os.geteuid() != 0 or c.unshare(0x08000000) != 0:   # CLONE_NEWIPC
        return False
    try:
        for name, none in (("shmmni", "0"), ("msgmni", "0"), ("sem", "0 0 0 0")):
            with open(f"/proc/sys/kernel/{name}", "w") as f:
                f.write(none)
    except OSError:
        return False
    return True
