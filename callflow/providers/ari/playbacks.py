"""An engine playback as ARI playbacks: one per run of prompts in the same language.

The engine plays a list of prompts under one playback id; a menu may mix
languages ("Suomeksi, paina 1. På svenska, tryck 2."). ``number:`` and
``digits:`` media are said in the playback's ``lang``, which is one per ARI
playback, so each run of prompts in one language becomes its own ARI
playback. Asterisk queues a channel's playbacks and plays them in turn, so
all are started at once; the engine hears its playback finished when the
last one has, and a barge-in stops them all.

ARI playback ids are ``<channel>~<engine playback>~<n>``: unique across the
exchange, and the event that ends one says whose it was without a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

from callflow.config.models import AriConfig, HotlineConfig
from callflow.engine.prompts import PromptRef
from callflow.providers.ari.sounds import media_for

SEPARATOR = "~"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One ARI playback: its id, its media, the language they are said in."""

    playback_id: str
    media: tuple[str, ...]
    language: str


def chunks(
    channel_id: str,
    playback_id: str,
    prompts: tuple[PromptRef, ...],
    config: HotlineConfig,
    ari: AriConfig,
) -> list[Chunk]:
    """The ARI playbacks that together say *prompts*, in order."""
    runs: list[tuple[str, list[str]]] = []
    for ref in prompts:
        media = media_for(ref, config, ari)
        if not media:
            continue
        if runs and runs[-1][0] == ref.language:
            runs[-1][1].extend(media)
        else:
            runs.append((ref.language, list(media)))
    return [
        Chunk(ari_playback_id(channel_id, playback_id, n), tuple(media), language)
        for n, (language, media) in enumerate(runs)
    ]


def ari_playback_id(channel_id: str, playback_id: str, n: int) -> str:
    return SEPARATOR.join((channel_id, playback_id, str(n)))


def engine_playback(ari_id: str) -> tuple[str, str, int] | None:
    """(channel, engine playback id, n) of one of ours; None for anyone else's."""
    parts = ari_id.rsplit(SEPARATOR, 2)
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])
