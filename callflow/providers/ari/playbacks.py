"""An engine playback as ARI playbacks of its prompts' sound files: one, as a rule.

The engine plays a list of prompts under one playback id; a menu may mix
languages ("Suomeksi, paina 1. På svenska, tryck 2."). Every medium is a
``sound:`` file that names its language (:mod:`callflow.providers.ari.sounds`),
so nothing depends on the playback's ``lang`` and the whole list is one ARI
playback: a barge-in stops it with one request, and no queued playback of the
same prompt can start in between.

A prompt whose files may not be on Asterisk yet (its text was changed while the
line runs, :mod:`callflow.providers.ari.live_sounds`) is the exception: it is an
ARI playback of its own, so a file Asterisk lacks fails that playback alone and the
caller still hears the prompts around it. (A missing file in a list fails the
list's playback.) An engine playback is at most :data:`MOST_PLAYBACKS` ARI playbacks.

ARI playback ids are ``<channel>~<engine playback>~<n>``: unique across the
exchange, and the event that ends one says whose it was without a lookup.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from callflow.config.models import AriConfig, HotlineConfig
from callflow.engine.prompts import PromptRef
from callflow.providers.ari.sounds import SOUND, media_for

SEPARATOR = "~"
MOST_PLAYBACKS = 8
"""ARI playbacks one engine playback is split into at most (a restarted adapter looks
for that many); prompts beyond are played in the last one."""


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
    unverified: Set[str] = frozenset(),
) -> list[Chunk]:
    """The ARI playbacks that together say *prompts*, in order: none when nothing is said,
    one unless a prompt uses a file in *unverified* (sound names, ``fi/callflow/greeting``),
    which is played on its own. Each one's ``lang`` is its first prompt's language."""
    groups: list[tuple[list[str], str]] = []
    alone = False
    """Whether the last group is a prompt played on its own."""
    for ref in prompts:
        media = media_for(ref, config, ari)
        if not media:
            continue
        risky = any(medium.removeprefix(SOUND) in unverified for medium in media)
        if groups and (len(groups) == MOST_PLAYBACKS or not (risky or alone)):
            groups[-1][0].extend(media)
        else:
            groups.append((list(media), ref.language))
        alone = risky
    return [
        Chunk(ari_playback_id(channel_id, playback_id, n), tuple(media), language)
        for n, (media, language) in enumerate(groups)
    ]


def ari_playback_id(channel_id: str, playback_id: str, n: int) -> str:
    return SEPARATOR.join((channel_id, playback_id, str(n)))


def engine_playback(ari_id: str) -> tuple[str, str, int] | None:
    """(channel, engine playback id, n) of one of ours; None for anyone else's."""
    parts = ari_id.rsplit(SEPARATOR, 2)
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])
