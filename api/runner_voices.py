"""A request's voice as its runner jobs carry it: by reference, with the audio on demand.

Every chunk of a long text is a runner job of its own, so a voice sent by value would cross
the wire (and be serialised on the event loop) once per chunk and again for its render. Jobs
carry the reference only (`models.voice_references`); when a runner answers that it needs
the audio, the request loads it once and every later job of the request carries what was
loaded, by reference again (a record read afresh may name newer audio than the index did).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from contract.runner_jobs import VoiceReference

ForgetConditioning = Callable[[list[str]], Awaitable[None]]


class VoiceChangedError(RuntimeError):
    """The voice was replaced after part of the request was spoken in it."""


class RunnerVoice:
    def __init__(self, reference: VoiceReference, load: Callable[[], Awaitable[VoiceReference]]) -> None:
        self._reference = reference.by_reference()
        self._load = load
        self._loaded: asyncio.Future[VoiceReference] | None = None
        self.spoken = False  # a runner has answered a job of this request in this voice

    @classmethod
    def in_memory(cls, reference: VoiceReference) -> RunnerVoice:
        """A voice whose audio the API holds already (a predefined file, an upload)."""

        async def load() -> VoiceReference:
            return reference

        return cls(reference, load)

    def _failed(self) -> bool:
        return self._loaded is not None and self._loaded.done() and (self._loaded.cancelled() or self._loaded.exception() is not None)

    @property
    def reference(self) -> VoiceReference:
        """What the next job carries: the voice without its audio."""
        if self._loaded is not None and self._loaded.done() and not self._failed():
            return self._loaded.result().by_reference()
        return self._reference

    @property
    def content_hash(self) -> str:
        return self._reference.content_hash

    async def with_audio(self) -> VoiceReference:
        """The voice with its audio, loaded at most once however many jobs ask (a failed
        load is tried again by the next job that asks). A voice replaced since the request
        began (the index named older audio) is taken as it is now only while nothing was
        spoken yet: one request never mixes two voices."""
        if self._loaded is None or self._failed():
            self._loaded = asyncio.ensure_future(self._load())
        loaded = await asyncio.shield(self._loaded)
        if loaded.content_hash != self._reference.content_hash and self.spoken:
            raise VoiceChangedError("the voice was replaced while this request was speaking in it; retry")
        return loaded


class VoicesInUse:
    """Voices this replica is generating with, so that forgetting a replaced or deleted one
    (evicting its conditionals from the runners) waits for the last request speaking in it:
    otherwise its next chunk would find the voice neither cached nor in storage any more.
    One event loop runs it all, so counts need no lock."""

    def __init__(self, forget: ForgetConditioning) -> None:
        self._forget = forget
        self._users: Counter[str] = Counter()
        self._doomed: set[str] = set()
        self._pending: set[asyncio.Task[None]] = set()

    def hold(self, voice: RunnerVoice | None) -> Callable[[], None]:
        """Marks the voice in use; returns the release (safe to call more than once)."""
        if voice is None:
            return lambda: None
        content_hash = voice.content_hash
        self._users[content_hash] += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._users[content_hash] -= 1
            if self._users[content_hash] == 0:
                del self._users[content_hash]
                if content_hash in self._doomed:
                    self._doomed.discard(content_hash)
                    task = asyncio.get_running_loop().create_task(self._forget([content_hash]))
                    self._pending.add(task)
                    task.add_done_callback(self._pending.discard)

        return release

    async def forget(self, content_hashes: list[str]) -> None:
        """Forget now what nobody speaks in, the rest when its last request ends."""
        busy = {content_hash for content_hash in content_hashes if self._users[content_hash]}
        self._doomed |= busy
        if idle := [content_hash for content_hash in content_hashes if content_hash not in busy]:
            await self._forget(idle)
