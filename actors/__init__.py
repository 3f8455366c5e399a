"""Supervised Trio actors: bounded mailboxes, OTP-style supervisors, keyed registries.

    async with open_actor_system(trap_signals=True) as system:
        ref = system.spawn(Echo, name="echo")        # Echo(Actor[Msg]) overrides receive()
        ref.tell(Ping())                             # never blocks, never yields
        value = await ref.ask(lambda reply: Get(reply=reply), timeout=1.0)
        threads = await system.start_registry("threads", ThreadActor, idle_timeout=300)
        threads.tell(thread_id, cmd)                 # one actor per key, passivated when idle

Rules the runtime keeps:

- An actor is one task in its supervisor's nursery reading a bounded trio memory channel.
  tell() is send_nowait(); a full mailbox applies the class's MailboxPolicy. The actor handles
  one message at a time and drains what is queued without a scheduler round trip per message.
- An ActorRef survives restarts and keeps its mailbox (the message that crashed is lost). It
  raises ActorStopped once the actor has ended for good.
- A message-only actor has no cancel scope of its own (memory): it is stopped between messages.
  One whose handler hangs past its shutdown timeout is cancelled with its whole group, which
  then fails with StopTimeout. Actors that override run() or set uses_nursery own a nursery
  and are cancelled individually.
- Supervisors start children in order (waiting for on_started) and stop them in reverse order;
  ONE_FOR_ONE / ONE_FOR_ALL / REST_FOR_ONE; more than max_restarts within `within` seconds
  stops the children, logs once, and fails the supervisor with RestartIntensityExceeded for
  its parent to handle. Restarts wait a jittered exponential Backoff.
- Registry actors are addressed through the registry (tell/ask/get by key). A passivated key
  keeps only what on_passivate() returned; the next message reactivates it.
- A Service (anything with `run(task_status=...)` and `stop()`: an adapter, a server) runs
  as a ServiceActor: on drain its stop() is called and its run() awaited, so a consumer
  commits and a producer flushes before what was started before it is stopped.
- The system stops the tree in reverse start order within shutdown_timeout when its block
  ends, on system.shutdown(), or on the first SIGTERM/SIGINT (trap_signals); a second signal
  cancels everything, stop hooks included.
"""

from __future__ import annotations

from ._actor import Actor, ActorRef
from ._errors import (
    ActorCrashed,
    ActorError,
    ActorStopped,
    AskTimeout,
    MailboxFull,
    NoSuchActor,
    NotRestartable,
    RestartIntensityExceeded,
    StopTimeout,
)
from ._mailbox import Down, ExitReason, MailboxPolicy, Reply
from ._node import ActorState
from ._policy import Backoff, Restart, Strategy
from ._registry import Registry
from ._service import Service, ServiceActor, TaskService, start_service
from ._supervisor import ChildSpec, Supervisor
from ._system import ActorSystem, open_actor_system, run_actor_system

__all__ = [
    "Actor",
    "ActorCrashed",
    "ActorError",
    "ActorRef",
    "ActorState",
    "ActorStopped",
    "ActorSystem",
    "AskTimeout",
    "Backoff",
    "ChildSpec",
    "Down",
    "ExitReason",
    "MailboxFull",
    "MailboxPolicy",
    "NoSuchActor",
    "NotRestartable",
    "Registry",
    "Reply",
    "Restart",
    "RestartIntensityExceeded",
    "Service",
    "ServiceActor",
    "StopTimeout",
    "Strategy",
    "Supervisor",
    "TaskService",
    "open_actor_system",
    "run_actor_system",
    "start_service",
]
