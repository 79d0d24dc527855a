"""Leader election on a coordination.k8s.io/v1 Lease: the protocol of client-go's leaderelection.

Several replicas run; the one holding the Lease applies, the others wait.
The holder renews every `retry_period`; a candidate takes the Lease only when
its record has not changed for `duration` *as the candidate observed it* (its
own monotonic clock — never comparing wall clocks across machines), or when
the holder released it. Updates carry the resourceVersion read, so two
candidates cannot both win.

Fencing: the holder may write only until `renew_deadline` after the start of
its last successful renewal (`may_write`). Any candidate waits at least
`duration` after seeing that renewal, so with renew_deadline < duration the
old leader has stopped writing before a new one can start — as long as a
write that began in time ends within the margin (duration - renew_deadline).
Kubernetes has no fencing tokens, so this margin is the guarantee, and why
the loop checks `may_write` before every single write.

The same Lease serializes every writer of the shared audit log: `mlcp apply`
takes it for its turn (reconciler.applyturn). It asks the leader with an annotation naming
itself; the leader hands the Lease over between passes (never during one),
and takes it back once the CLI releases it or its lease expires.

Threads: the rounds run on the `mlcp-lease` thread, while the loop's thread hands
the Lease over (`hand_over`) and releases it (`release`). Each is a read and a
write of the Lease and of this candidate's own view, so one lock serializes the
three: a renewal in flight while the Lease was handed over made the old leader
writable again (two writers for a renew deadline), and one landing between the
handover's read and write made that write fail after the asker was taken for
served. A released candidate never takes the Lease again.

Triggers: a replica that is not the leader forwards a webhook by a PATCH of the
Lease's annotations (reconciler.leasetrigger, at most one per retry period). Each
PATCH made the holder's next write conflict, so a renewal or release that
conflicts with a change of the metadata alone is made again at once on a fresh
read (reconciler.leaserequests): a flood of deliveries costs the leader a read, never its Lease.

Standing: a candidate that `standing` says is unfit (with `--shards`, one whose
membership Lease went unrenewed for a lease duration: reconciler.shardleases)
neither takes nor renews the Lease; its term ends at its renew deadline, and it
renews its own record again once it is fit.

Whose record: the Lease names an identity, and an identity is a claim (two
replicas given one `--identity`, a process started again under its old one).
A Lease naming this identity is this process's only while its record is one
this process wrote (`_wrote`, the last few it sent, answered or not); any other
is another holder's, taken only once it stood still for the duration; but for
a handover this process asked for (its identity is unique: `mlcp apply` names
itself with a random suffix). Taking the name for proof, a second process
renewed the first's Lease and both led.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from reconciler import leaserequests, logs
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes_answers import HttpError
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.leases import LEASES, LeaseConfig, lease_record, own_record
from reconciler.leasetrigger import TRIGGER_ANNOTATION, Triggers, stamp

HANDOVER_ANNOTATION = "mlcp.dev/handover"
"""Set by `mlcp apply` to the identity it holds the Lease under: the leader hands the Lease over between passes."""
HANDED_KEPT = 8
"""Askers a leader remembers having served. The annotation names one asker, and each `mlcp apply` has an identity of
its own and asks once, so a request served longer ago cannot come back; one entry per apply for the life of the
process was a leak."""
WRITES_KEPT = 4
"""Records this process sent that it still recognises as its own (`LeaderElector._wrote`): the last renewal's,
answered or not (an answer lost on the way back leaves the record it wrote on the Lease), and a few before."""


class LeaderElector:
    """One candidate. `step()` is one round of the protocol; `run()` repeats it in a thread."""

    def __init__(
        self,
        kube: KubeClient,
        config: LeaseConfig,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] = lambda _leading: None,
        on_trigger: Callable[[], None] = lambda: None,
        on_handover: Callable[[], None] = lambda: None,
        standing: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.kube = kube
        self.config = config
        self.clock = clock
        self.on_change = on_change
        self.on_trigger = on_trigger
        self.on_handover = on_handover
        self.standing = standing
        """Why this candidate may not hold the Lease now, or None (see "Standing" in the module docstring)."""
        self.handover: str | None = None
        """Who asked for the Lease (see `hand_over`), while this candidate holds it."""
        self._handed: deque[str] = deque(maxlen=HANDED_KEPT)
        """The askers served last (`_watch_handover` serves none twice); the newest few only."""
        self.last_error: BackendError | None = None
        """Why the last step could not read or write the Lease (None after a step that could)."""
        self.holder: str | None = None
        self._valid_until = 0.0
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._trigger: str | None = None
        self._triggers = Triggers(kube, lambda: self.path, config.retry_period, clock)
        self._sent: deque[tuple[Any, ...]] = deque(maxlen=WRITES_KEPT)
        """The records this process sent as holder (see "Whose record" in the module docstring)."""
        self._asked = False
        """Whether this process asked for the Lease (`ask_handover`): a record naming it is the leader's handover."""
        self._twin = False
        """Whether this process saw a record naming its identity that it did not write (logged once)."""
        self._leading = False
        self._released = threading.Event()
        self._lock = threading.Lock()
        """Held through a round, a handover and a release (see "Threads" in the module docstring)."""

    @property
    def path(self) -> str:
        return LEASES.format(namespace=self.config.namespace) + f"/{self.config.name}"

    def may_write(self) -> bool:
        """True while the lease is surely ours (see the module docstring)."""
        return not self._released.is_set() and self.clock() < self._valid_until

    def renewed_within(self, seconds: float) -> bool:
        """Whether this candidate's last renewal started less than `seconds` ago (never once it was released)."""
        last = self._valid_until - self.config.renew_deadline
        return not self._released.is_set() and self._valid_until > 0 and self.clock() < last + seconds

    def remaining(self) -> float:
        """Seconds this holder may still write (0 when it may not): the deadline of every fenced request."""
        return 0.0 if self._released.is_set() else max(0.0, self._valid_until - self.clock())

    def _wrote(self, spec: dict[str, Any]) -> bool:
        """Whether the Lease's record is one this process wrote as its holder (not merely one naming its identity)."""
        return spec.get("holderIdentity") == self.config.identity and own_record(spec) in self._sent

    def _spec(self, old: dict[str, Any] | None, now: str, ours: bool) -> dict[str, Any]:
        spec = dict(old or {})
        if not ours:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions", 0)) + (1 if old else 0)
        spec.update(
            holderIdentity=self.config.identity, leaseDurationSeconds=round(self.config.duration), renewTime=now
        )
        return spec

    def step(self) -> bool:
        """Acquire or renew once; True when this candidate leads afterwards (never once it was released)."""
        with self._lock:
            return self._step()

    def _step(self) -> bool:
        if self._released.is_set():
            return self._set(False)
        if self.standing() is not None:
            return self._set(self.may_write())
        started = self.clock()
        try:
            lease = leaserequests.read(self.kube, self.path)
            if self._released.is_set():  # `release` waits for this round: it writes nothing more
                return self._set(False)
            if lease is None:
                spec = self._spec(None, stamp(), False)
                self._sent.append(own_record(spec))
                leaserequests.create(self.kube, self.config, spec)
                self._valid_until = started + self.config.renew_deadline
            elif not self._try_update(lease, started, self.clock()):
                return self._set(self.may_write())
        except BackendError as exc:
            self.last_error = exc
            logs.get().warning("lease renewal failed", extra={"error": str(exc), "lease": self.config.name})
            return self._set(self.may_write())
        self.last_error = None
        return self._set(True)

    def _try_update(self, lease: dict[str, Any], started: float, answered: float) -> bool:
        """Renew, or take the Lease if it is free; False when another holds it.

        A record not seen before is dated when the read was `answered` (client-go's observedTime), never when it
        was sent: a renewal that landed while a slow GET was in flight was believed to have stood still since
        before it was made, and the Lease was taken while that holder could still write."""
        spec = lease.get("spec") or {}
        self._watch_trigger(lease)
        self._watch_handover(lease)
        record = lease_record(spec)
        if record != self._observed:
            self._observed, self._observed_at = record, answered
        self.holder = spec.get("holderIdentity") or None
        handed = self._asked and self.holder == self.config.identity  # a leader handed it over, as this one asked
        ours = self._wrote(spec) or handed
        held_by_other = self.holder is not None and not ours
        if held_by_other and started < self._observed_at + float(spec.get("leaseDurationSeconds") or 0):
            if self.holder == self.config.identity and not self._twin:
                self._twin = True  # said once: a live twin renews every period
                logs.get().error(
                    "the Lease names this replica's identity in a record this process did not write: another "
                    "process renews it under the same --identity (shared between replicas?), or this replica's "
                    "previous process wrote it; waiting for it to stand still for the lease duration",
                    extra={"identity": self.config.identity, "lease": self.config.name},
                )
            return False
        renewed = self._spec(spec, stamp(), ours)
        self._sent.append(own_record(renewed))
        if not leaserequests.put(self.kube, self.path, lease, lambda body: body.update(spec=renewed)):
            return False  # someone else renewed or took it between our read and write
        self.holder = self.config.identity
        self._valid_until = started + self.config.renew_deadline
        return True

    def seen(self, record: tuple[Any, ...], since: float) -> None:
        """Start from an observation made elsewhere (a LIST of the Leases): the record stood still since `since`.

        A replica that starts competing for a Lease it has been watching need not wait a whole duration again.
        """
        if self._observed is None:
            self._observed, self._observed_at = record, since

    def _watch_trigger(self, lease: dict[str, Any]) -> None:
        value = ((lease.get("metadata") or {}).get("annotations") or {}).get(TRIGGER_ANNOTATION)
        if value != self._trigger:
            first = self._trigger is None and not self._leading
            self._trigger = value
            if not first:
                self.on_trigger()

    def _watch_handover(self, lease: dict[str, Any]) -> None:
        asking = ((lease.get("metadata") or {}).get("annotations") or {}).get(HANDOVER_ANNOTATION)
        mine = self._wrote(lease.get("spec") or {})
        fresh = asking and asking != self.config.identity and asking not in self._handed
        if mine and fresh and self.handover != asking:
            self.handover = asking
            self.on_handover()

    def hand_over(self) -> bool:
        """Give the Lease to the writer that asked for it (call between passes); True when it was handed over.

        Writing stops first (`may_write` turns false), then the Lease names the other writer, which renews it
        from then on; this candidate takes it back like any other once it is released or expires.

        A handover that fails (the Lease changed between its read and its write) leaves the request on the Lease:
        the next round sees it again and the loop hands over then.
        """
        with self._lock:
            asking, self.handover = self.handover, None
            if asking is None or not self.may_write():
                return False
            self._valid_until = 0.0
            try:
                lease = leaserequests.read(self.kube, self.path)
                spec = (lease or {}).get("spec") or {}
                if lease is None or not self._wrote(spec):
                    return False
                now = stamp()
                transitions = int(spec.get("leaseTransitions", 0)) + 1
                lease["spec"] = {**spec, "holderIdentity": asking, "acquireTime": now, "renewTime": now}
                lease["spec"]["leaseTransitions"] = transitions
                self.kube.request("PUT", self.path, body=lease)
            except BackendError as exc:
                logs.get().warning("could not hand the lease over", extra={"error": str(exc), "to": asking})
                return False
            self._handed.append(asking)
            self.holder = asking
            logs.get().info("handed the lease over", extra={"to": asking, "lease": self.config.name})
            self._set(False)
            return True

    def ask_handover(self) -> bool:
        """Ask the holder (if any) to hand the Lease to this candidate between its passes."""
        patch = {"metadata": {"annotations": {HANDOVER_ANNOTATION: self.config.identity}}}
        self._asked = True
        try:
            self.kube.request("PATCH", self.path, body=patch, content_type="application/merge-patch+json")
        except HttpError as exc:
            if exc.status == 404:
                return False  # no Lease yet: the next step creates it
            raise
        return True

    def withdraw(self) -> None:
        """Take back a request for the Lease that was not served (so no leader hands over to a gone writer)."""
        try:
            lease = leaserequests.read(self.kube, self.path)
            notes = ((lease or {}).get("metadata") or {}).get("annotations") or {}
            if notes.get(HANDOVER_ANNOTATION) == self.config.identity:
                patch = {"metadata": {"annotations": {HANDOVER_ANNOTATION: None}}}
                self.kube.request("PATCH", self.path, body=patch, content_type="application/merge-patch+json")
        except BackendError as exc:
            logs.get().warning("could not withdraw the request for the lease", extra={"error": str(exc)})

    def _set(self, leading: bool) -> bool:
        if leading != self._leading:
            self._leading = leading
            logs.get().info(
                "became the leader" if leading else "lost the lease; stopped writing",
                extra={"identity": self.config.identity, "lease": self.config.name},
            )
            self.on_change(leading)
        return leading

    def run(self, stop: threading.Event) -> None:
        """Acquire and renew until `stop` is set (then the caller releases).

        Any error of a round is logged and the round tried again a period later: `step` handles the API's errors,
        but anything else (a proxy's HTML error page the client cannot decode, a bug) ended this thread, and the
        replica, healthy by every probe, never led again."""
        while not stop.is_set() and not self._released.is_set():
            try:
                leading = self.step()
            except Exception:
                logs.get().exception("lease round failed; trying again", extra={"lease": self.config.name})
                with self._lock:
                    leading = self._set(self.may_write())
            stop.wait(self.config.retry_period if leading else self.config.retry_period * 1.2)

    def release(self) -> None:
        """Give the lease up at once (holder cleared), so the next leader need not wait it out; for good (a
        released candidate takes no Lease again). A round in flight ends first, writing nothing after its read."""
        self._released.set()
        self._triggers.cancel()  # a request held back goes: the next leader starts its term with a pass
        with self._lock:
            was = self.clock() < self._valid_until
            self._valid_until = 0.0
            self._set(False)
            if not was:
                return
            try:
                lease = leaserequests.read(self.kube, self.path)
                if lease is None or not self._wrote(lease.get("spec") or {}):
                    return  # taken since, or renewed by another process under this identity: not ours to free
                if not leaserequests.put(self.kube, self.path, lease, self._released_body):
                    logs.get().warning("could not release the lease: another writer changed it")
            except BackendError as exc:
                logs.get().warning("could not release the lease", extra={"error": str(exc)})

    def _released_body(self, lease: dict[str, Any]) -> None:
        lease["spec"] = {**lease["spec"], "holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": stamp()}
        notes = (lease.get("metadata") or {}).get("annotations") or {}
        if notes.get(HANDOVER_ANNOTATION) == self.config.identity:
            del notes[HANDOVER_ANNOTATION]  # asked and served: no later leader hands over to a gone writer

    def trigger(self) -> None:
        """Ask the leader (whoever it is) for a pass: at most one request per retry period (reconciler.leasetrigger)."""
        self._triggers.send()
