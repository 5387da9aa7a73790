"""An engine playback as one ARI playback of all its prompts' sound files.

The engine plays a list of prompts under one playback id; a menu may mix
languages ("Suomeksi, paina 1. På svenska, tryck 2."). Every medium is a
``sound:`` file that names its language (:mod:`callflow.providers.ari.sounds`),
so nothing depends on the playback's ``lang`` and the whole list is one ARI
playback: a barge-in stops it with one request, and no queued playback of the
same prompt can start in between.

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
    """One ARI playback: its id, its media, and the ``lang`` it is played with."""

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
    """The ARI playbacks that together say *prompts*: one, or none when nothing is said.
    Its ``lang`` is the first prompt's language."""
    media = tuple(medium for ref in prompts for medium in media_for(ref, config, ari))
    if not media:
        return []
    return [Chunk(ari_playback_id(channel_id, playback_id, 0), media, prompts[0].language)]


def ari_playback_id(channel_id: str, playback_id: str, n: int) -> str:
    return SEPARATOR.join((channel_id, playback_id, str(n)))


def engine_playback(ari_id: str) -> tuple[str, str, int] | None:
    """(channel, engine playback id, n) of one of ours; None for anyone else's."""
    parts = ari_id.rsplit(SEPARATOR, 2)
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])
