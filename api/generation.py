"""What the routes that generate (speech, voice conversion) share: the runners and how they
are called, the voice library, where results are stored, the admission slots and the
voices in use."""

from __future__ import annotations

from api.admission import AdmissionSlots
from api.generation_results import GenerationResults
from api.runner_calls import ModelRunners, RunnerCalls
from api.runner_voices import VoicesInUse
from api.voice_serving import VoiceServing
from config import Settings


class GenerationServing:
    def __init__(
        self, settings: Settings, voices: VoiceServing, models: ModelRunners, runners: RunnerCalls, results: GenerationResults, slots: AdmissionSlots,
        in_use: VoicesInUse,
    ) -> None:
        self.settings = settings
        self.voices = voices
        self.models = models  # which runner serves a request
        self.runners = runners  # how every runner call is made
        self.results = results
        self.slots = slots  # one pool for every generating route: a replica's bound on work in flight
        self.in_use = in_use
