"""Supervised Trio actors: bounded mailboxes, OTP-style supervisors, keyed registries.

    async with open_actor_system(trap_signals=True) as system:
        ref = system.spawn(Echo, name="echo")        # Echo(Actor[Msg]) overrides receive()
        ref.tell(Ping())                             # never blocks, never yields
        value = await ref.ask(lambda reply: Get(reply=reply), timeout=1.0)
        threads = await system.start_registry("threads", ThreadActor, idle_timeout=300)
        threads.tell(thread_id, cmd)                 # one actor per key, passivated when idle

See ARCHITECTURE.md for the supervision rules and the figures in bench/actors_bench.py.
"""

from __future__ import annotations

from ._actor import Actor, ActorRef
from ._errors import (
    ActorError,
    ActorStopped,
    AskTimeout,
    MailboxFull,
    RestartIntensityExceeded,
    StopTimeout,
)
from ._mailbox import Down, ExitReason, MailboxPolicy, Reply
from ._node import ActorState
from ._policy import Backoff, Restart, Strategy
from ._registry import Registry
from ._supervisor import ChildSpec, Supervisor
from ._system import ActorSystem, open_actor_system, run_actor_system

__all__ = [
    "Actor",
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
    "Registry",
    "Reply",
    "Restart",
    "RestartIntensityExceeded",
    "StopTimeout",
    "Strategy",
    "Supervisor",
    "open_actor_system",
    "run_actor_system",
]
