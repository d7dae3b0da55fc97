"""Who owns a run: a claim file (a token and a heartbeat lease) and a kernel lock that every process
writing the run holds, so that "the owner is dead" is never true while a writer of the run lives.

The lock: `<run>.lock` beside the run folder, an flock(2) taken before the claim is made and held
until it is released. The worker passes the locked file to the run's child process, and the
kernel releases the lock only when the last process holding it (the worker, or an orphaned child
that outlived it) is gone. On this machine a claim made with the lock is stale exactly when its
lock is free; nothing depends on process ids, which the system reuses.

The claim: `<run>.claim`, created with O_EXCL, carries a unique token and a heartbeat its worker
renews. A claim of another machine is stale when its lease expires (its worker stopped renewing
it). Taking a stale claim over is decided by a second O_EXCL create, `<run>.claim.takeover-<key>`,
so that exactly one of many workers (of any machine) wins it; a takeover file whose maker died
before removing it is cleared by the next claimer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from adapterlab.runs import write_json_atomic

logger = logging.getLogger(__name__)

STALE_UNREADABLE_SECONDS = 60  # a claim (or takeover file) still unreadable after this long was never finished
# A claim is a lease: its worker renews it every HEARTBEAT_SECONDS while the run goes on. One not
# renewed for LEASE_SECONDS is stale on another machine, so a node that died (or lost the shared
# filesystem) gives its runs back; on the owner's own machine the lock says so at once.
HEARTBEAT_SECONDS = 30.0
LEASE_SECONDS = 600.0
# A free lock found busy for a moment (another process tests it, or takes over the same dead
# claim): try this often, this far apart, before giving the run up to that process.
LOCK_TRIES = 4
LOCK_PAUSE_SECONDS = 0.02

_HELD: dict[str, int] = {}  # lock file -> the descriptor this process holds it by
_HELD_GUARD = threading.Lock()


def claim_path(run_dir: Path) -> Path:
    return Path(run_dir).parent / f"{Path(run_dir).name}.claim"


def lock_path(run_dir: Path) -> Path:
    return Path(run_dir).parent / f"{Path(run_dir).name}.lock"


# ------------------------------------------------------------------------------------- the lock


def held_lock(run_dir: Path) -> int | None:
    """The descriptor by which this process holds the run's lock (for a child process to inherit
    it), or None."""
    return _HELD.get(str(lock_path(run_dir)))


def _lock(run_dir: Path, patient: bool) -> int | None:
    """Take the run's lock (non-blocking); the descriptor, or None when another process holds it.
    patient: a busy lock is tried LOCK_TRIES times (it may be a test of a dead owner's lock)."""
    path = str(lock_path(run_dir))
    with _HELD_GUARD:
        if path in _HELD:
            return _HELD[path]
        busy = 0
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                busy += 1
                if not patient or busy >= LOCK_TRIES:
                    return None
                time.sleep(LOCK_PAUSE_SECONDS)
                continue
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                _HELD[path] = fd
                return fd
            os.close(fd)  # its holder removed the file meanwhile: lock the file that is there now


def _unlock(run_dir: Path, remove: bool) -> None:
    """Give the lock up; remove: delete the lock file first (only its holder may)."""
    path = str(lock_path(run_dir))
    with _HELD_GUARD:
        fd = _HELD.pop(path, None)
        if fd is None:
            return
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        os.close(fd)


def lock_is_held(run_dir: Path) -> bool:
    """Whether a live process (this one included) holds the run's lock. Tests it by taking it
    for an instant when it is free."""
    path = lock_path(run_dir)
    if str(path) in _HELD:
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# ------------------------------------------------------------------------------------ claims


def try_claim(run_dir: Path) -> str | None:
    """Claim a run: its claim token, or None when another live process holds it. A stale claim
    (every process of its owner is gone) is taken over by exactly one of the workers that try."""
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    claim = claim_path(run_dir)
    held_before = held_lock(run_dir) is not None
    owner = _read_claim(claim)
    if _lock(run_dir, patient=owner is not None and not _pid_alive(owner)) is None:
        return None  # a live owner, its run's child, or another claimer right now
    token = None
    try:
        _clear_takeover_leftovers(claim)
        token = _create_claim(claim)
        if token is None:
            key = _stale_key(claim, locked=True)
            if key is not None:
                token = _take_over(claim, key)
        return token
    finally:
        if token is None and not held_before:
            _unlock(run_dir, remove=False)


def release(run_dir: Path, token: str | None = None) -> None:
    """Remove our claim (the one holding `token`; any claim when token is None) and its lock."""
    run_dir = Path(run_dir)
    claim = claim_path(run_dir)
    if token is not None and (_read_claim(claim) or {}).get("token") != token:
        _unlock(run_dir, remove=False)  # no longer ours (taken over after its lease expired)
        return
    claim.unlink(missing_ok=True)
    if held_lock(run_dir) is not None or _lock(run_dir, patient=False) is not None:
        _unlock(run_dir, remove=True)


def _create_claim(claim: Path) -> str | None:
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return None
    token = uuid.uuid4().hex
    now = time.time()
    with os.fdopen(fd, "w") as handle:
        # lock: the owner holds <run>.lock, so on this machine its claim is stale exactly when the lock is free
        json.dump(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": now,
                "heartbeat": now,
                "token": token,
                "lock": True,
            },
            handle,
        )
    return token


def renew(run_dir: Path, token: str) -> bool:
    """Renew our lease on a run (a new heartbeat, same token). False when the claim is no longer
    ours (taken over after the lease expired): the caller should stop renewing."""
    claim = claim_path(run_dir)
    owner = _read_claim(claim)
    if owner is None or owner.get("token") != token:
        return False
    write_json_atomic(claim, {**owner, "heartbeat": time.time()})
    return True


@contextlib.contextmanager
def heartbeat(run_dir: Path, token: str, every: float = HEARTBEAT_SECONDS):
    """Renew the claim in a background thread while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            if not renew(run_dir, token):
                logger.warning(
                    "%s: the claim was taken over (its lease expired); this run's result may be overwritten", run_dir
                )
                return

    thread = threading.Thread(target=beat, name=f"heartbeat {Path(run_dir).name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def read_claim(run_dir: Path) -> dict | None:
    """The owner record of the run's claim ({pid, host, since, heartbeat, token}), or None."""
    return _read_claim(claim_path(run_dir))


def _read_claim(claim: Path) -> dict | None:
    try:
        owner = json.loads(claim.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return owner if isinstance(owner, dict) else None


def _claim_key(claim: Path) -> tuple[str | None, dict | None]:
    """(what identifies this claim file, its owner record) from ONE read: its token (older
    claims: pid and time), or its inode and mtime when it is unreadable; (None, None) if absent.
    Judging a claim and naming it from two reads would let a new claim take the old one's verdict."""
    owner = _read_claim(claim)
    if owner is not None:
        return str(owner.get("token") or f"{owner.get('pid')}-{owner.get('since')}"), owner
    try:
        stat = claim.stat()
    except OSError:
        return None, None
    if time.time() - stat.st_mtime <= STALE_UNREADABLE_SECONDS:
        return f"writing-{stat.st_ino}-{stat.st_mtime_ns}", None  # a claim being written right now
    return f"unreadable-{stat.st_ino}-{stat.st_mtime_ns}", None


def stale_key(claim: Path) -> str | None:
    """The key of the claim when it is stale, "absent" when there is none, else None (a live
    owner holds it). Reads only (the lock is tested, never kept)."""
    return _stale_key(claim, locked=False)


def _stale_key(claim: Path, locked: bool) -> str | None:
    key, owner = _claim_key(claim)
    if key is None:
        return "absent"  # released in the meantime: a fresh create decides
    if owner is None:
        # one that stays unreadable was never finished; one being written is not stale
        return key if key.startswith("unreadable-") else None
    return key if owner_is_gone(owner, claim.with_name(claim.name.removesuffix(".claim")), locked) else None


def owner_is_gone(owner: dict, run_dir: Path, locked: bool = False) -> bool:
    """Whether every process of a claim's owner is gone. locked: this process holds the run's
    lock (so no other process does). On this machine a claim made with the lock is decided by
    the lock alone, an older one by its pid; another machine's claim by its lease."""
    if owner.get("host") == socket.gethostname():
        if owner.get("pid") == os.getpid():
            return False  # ours
        if owner.get("lock"):
            return locked or not lock_is_held(run_dir)
        if locked or not lock_is_held(run_dir):
            return _lease_expired(owner) or not _pid_alive(owner)
        return False
    # another machine's live lease: only its expiry can tell (and its lock, where the filesystem shares locks)
    return _lease_expired(owner) and (locked or not lock_is_held(run_dir))


def _lease_expired(owner: dict) -> bool:
    beat = owner.get("heartbeat", owner.get("since"))
    return isinstance(beat, (int, float)) and time.time() - beat > LEASE_SECONDS


def _pid_alive(owner: dict) -> bool:
    """Whether the claim's process lives (on this machine; another machine's counts as alive)."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError, OverflowError):
        return True
    return True


def _take_over(claim: Path, key: str) -> str | None:
    """One O_EXCL create per stale claim decides who may remove it; the new claim is then an
    ordinary O_EXCL create again, so a fresh claimer racing us is also decided atomically."""
    if key == "absent":
        return _create_claim(claim)
    gate = claim.with_name(f"{claim.name}.takeover-{key}")
    if not _create_gate(gate):
        return None
    try:
        if _claim_key(claim)[0] == key:  # still the stale claim we judged, not a newer one
            claim.unlink(missing_ok=True)
        return _create_claim(claim)
    finally:
        gate.unlink(missing_ok=True)


def _create_gate(gate: Path) -> bool:
    try:
        fd = os.open(gate, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}, handle)
    return True


def _clear_takeover_leftovers(claim: Path) -> None:
    """Remove the takeover files of `claim` whose makers are gone: called with the run's lock
    held, so a takeover file of this machine is a leftover of a process killed mid-takeover (a
    live one would hold the lock); another machine's, or an unreadable one, once it is older than
    any takeover takes."""
    for gate in claim.parent.glob(f"{claim.name}.takeover-*"):
        maker = _read_claim(gate)
        try:
            age = time.time() - gate.stat().st_mtime
        except OSError:
            continue
        mine = maker is not None and maker.get("host") == socket.gethostname()
        if mine or age > STALE_UNREADABLE_SECONDS:
            gate.unlink(missing_ok=True)
            logger.warning(
                "%s: removed a takeover file left by a process that stopped while taking the claim over", gate
            )
