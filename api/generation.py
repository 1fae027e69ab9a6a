"""What the routes that generate (speech, voice conversion) share: the runners, the voice
library, where results are stored, the admission slots and the voices in use."""

from __future__ import annotations

from api.admission import AdmissionSlots
from api.output_saving import OutputSaver
from api.runner_calls import RunnerCalls
from api.runner_voices import VoicesInUse
from api.voice_serving import VoiceServing
from config import Settings


class GenerationServing:
    def __init__(
        self, settings: Settings, voices: VoiceServing, runners: RunnerCalls, saver: OutputSaver, slots: AdmissionSlots, in_use: VoicesInUse
    ) -> None:
        self.settings = settings
        self.voices = voices
        self.runners = runners
        self.saver = saver
        self.slots = slots  # one pool for every generating route: a replica's bound on work in flight
        self.in_use = in_use
