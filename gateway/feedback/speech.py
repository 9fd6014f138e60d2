"""Speech offline through espeak-ng (Debian's `espeak-ng`), as a subprocess.

A missing binary, a missing sound device or a hung synthesiser is logged and
never raised: speaking is a courtesy, the readings never wait for it. Messages
are spoken one at a time, in order, by `Speaker.run`; `say` only queues.

espeak-ng's own audio output plays through the default ALSA/PulseAudio device;
`synthesize` writes a WAV instead (`-w`), which the tests use to prove that every
message can be produced in both voices.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from .messages import Language
from .policy import Cue

__all__ = ["ESPEAK", "Speaker", "espeak_command"]

_LOGGER = logging.getLogger(__name__)
ESPEAK = "espeak-ng"
_TIMEOUT_S = 30.0
# espeak-ng's voice per language: `ja` is its Japanese voice; `en-gb` its default English.
_VOICES = {Language.JA: "ja", Language.EN: "en"}


def espeak_command(
    text: str, language: Language, volume: int, rate: int, wav: Path | None = None
) -> list[str]:
    """The espeak-ng command line for one sentence (volume in percent of its loudest, 200)."""
    amplitude = max(0, min(200, round(volume * 2)))
    command = [ESPEAK, "-v", _VOICES[language], "-a", str(amplitude), "-s", str(rate)]
    if wav is not None:
        command += ["-w", str(wav)]
    return [*command, "--", text]


class Speaker:
    """Speaks cues one after the other; never raises into the caller.

    Args:
        binary: the espeak-ng executable (found on PATH by default).
        output: where a line that was spoken also goes (the demo prints it); optional.
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        output: Callable[[str], None] | None = None,
        play: bool = True,
    ) -> None:
        self._binary = binary or shutil.which(ESPEAK)
        self._output = output
        self._play = play
        self._queue: asyncio.Queue[Cue] = asyncio.Queue()
        self.spoken: list[str] = []
        self._missing_logged = False

    def say(self, cue: Cue) -> None:
        """Queue a cue's sentence (nothing when it has none)."""
        if cue.text is not None:
            self._queue.put_nowait(cue)

    async def run(self) -> None:
        """Speak queued sentences forever (cancel to stop)."""
        while True:
            cue = await self._queue.get()
            try:
                await self.speak(cue)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued sentence has been spoken (or given up)."""
        await self._queue.join()

    async def speak(self, cue: Cue) -> bool:
        """Speak one cue now; True when espeak-ng finished without error."""
        if cue.text is not None:
            self.spoken.append(cue.text)
            if self._output is not None:
                self._output(cue.text)
        if not self._play:
            return True
        return await self._run(
            espeak_command(self._voiced(cue), cue.language, cue.volume, cue.rate)
        )

    async def synthesize(self, cue: Cue, wav: Path) -> bool:
        """Write a cue's sentence to a WAV file; True when espeak-ng succeeded."""
        command = espeak_command(self._voiced(cue), cue.language, cue.volume, cue.rate, wav)
        return await self._run(command)

    @staticmethod
    def _voiced(cue: Cue) -> str:
        text = cue.speech or cue.text
        if text is None:
            raise ValueError("a cue without a sentence cannot be spoken")
        return text

    async def _run(self, command: list[str]) -> bool:
        if self._binary is None:
            if not self._missing_logged:
                _LOGGER.warning("espeak-ng is not installed: the gateway cannot speak")
                self._missing_logged = True
            return False
        return await _run_quietly([self._binary, *command[1:]])


async def _run_quietly(command: list[str]) -> bool:
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        _LOGGER.warning("cannot start espeak-ng: %s", exc)
        return False
    try:
        _, error = await asyncio.wait_for(process.communicate(), _TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        _LOGGER.warning("espeak-ng took longer than %.0f s; stopped", _TIMEOUT_S)
        return False
    if process.returncode != 0:
        # Typically no sound device: said once per sentence at WARNING, the reading is safe.
        _LOGGER.warning(
            "espeak-ng failed (%s): %s", process.returncode, error.decode(errors="replace")[:200]
        )
        return False
    return True
