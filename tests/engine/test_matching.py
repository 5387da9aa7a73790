"""The one matcher: across queues the longest waiter a free advisor can serve, to the
longest-idle advisor able to (queue skill, caller language); ties by id."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from callflow.engine.matching import FreeAdvisor, Pair, Queue, WaitingCaller, match

T0 = datetime(2026, 1, 12, 8, tzinfo=UTC)


def caller(call_id: str, minutes_ago: int, language: str = "fi") -> WaitingCaller:
    return WaitingCaller(T0 - timedelta(minutes=minutes_ago), call_id, language)


def advisor(
    advisor_id: str,
    idle_minutes: int = 0,
    skills: tuple[str, ...] = ("nurse",),
    languages: tuple[str, ...] = ("fi",),
) -> FreeAdvisor[str]:
    return FreeAdvisor(
        advisor_id, frozenset(skills), frozenset(languages), T0 - timedelta(minutes=idle_minutes)
    )


def health(*callers: WaitingCaller, in_order: bool = False) -> Queue:
    return Queue("health", "nurse", sorted(callers), served_in_order=in_order)


def social(*callers: WaitingCaller) -> Queue:
    return Queue("social", "social_counsellor", sorted(callers))


def pairs(queues: list[Queue], advisors: list[FreeAdvisor[str]]) -> list[tuple[str, str]]:
    return [(p.caller.call_id, p.advisor_id) for p in match(queues, advisors)]


class TestWhoIsNext:
    def test_the_longest_waiter_across_queues_goes_first(self) -> None:
        """One advisor with both skills: the caller who has waited longest gets them,
        whichever queue (or menu digit) they are in."""
        both = advisor("both", skills=("nurse", "social_counsellor"))
        queues = [health(caller("h1", 5)), social(caller("s1", 9))]
        assert pairs(queues, [both]) == [("s1", "both")]

    def test_a_caller_no_free_advisor_can_serve_does_not_block_the_one_behind(self) -> None:
        swedish_first = health(caller("sv1", 10, "sv"), caller("fi1", 5))
        assert pairs([swedish_first], [advisor("aino")]) == [("fi1", "aino")]

    def test_language_and_skill_both_count(self) -> None:
        """A Swedish-speaking social counsellor serves neither a Swedish health caller nor a
        Finnish social one; a Swedish social caller, yes."""
        counsellor = advisor("sara", skills=("social_counsellor",), languages=("sv",))
        queues = [
            health(caller("health-sv", 30, "sv")),
            social(caller("social-fi", 20), caller("social-sv", 10, "sv")),
        ]
        assert pairs(queues, [counsellor]) == [("social-sv", "sara")]

    def test_every_caller_someone_can_serve_is_served_in_entry_order(self) -> None:
        queue = health(caller("third", 1), caller("first", 9), caller("second", 5))
        advisors = [advisor("a", 3), advisor("b", 2), advisor("c", 1), advisor("d", 0)]
        assert [c for c, _ in pairs([queue], advisors)] == ["first", "second", "third"]

    def test_callers_who_entered_at_the_same_moment_go_by_call_id(self) -> None:
        queues = [health(caller("b", 5)), Queue("health-2", "nurse", [caller("a", 5)])]
        assert pairs(queues, [advisor("aino")]) == [("a", "aino")]


class TestWhichAdvisor:
    def test_the_advisor_idle_longest_takes_the_call(self) -> None:
        advisors = [advisor("recent", 1), advisor("longest", 30), advisor("middle", 10)]
        assert pairs([health(caller("c", 5))], advisors) == [("c", "longest")]

    def test_advisors_idle_as_long_go_by_id(self) -> None:
        assert pairs([health(caller("c", 5))], [advisor("b", 5), advisor("a", 5)]) == [("c", "a")]
        numbered = [FreeAdvisor(n, frozenset({"nurse"}), frozenset({"fi"}), T0) for n in (10, 9)]
        assert [p.advisor_id for p in match([health(caller("c", 5))], numbered)] == [9]

    def test_the_longest_idle_is_passed_over_for_a_caller_they_cannot_serve(self) -> None:
        advisors = [advisor("finnish", 30), advisor("swedish", 1, languages=("sv",))]
        assert pairs([health(caller("c", 5, "sv"))], advisors) == [("c", "swedish")]

    def test_an_advisor_takes_one_caller_a_caller_one_advisor(self) -> None:
        bilingual = advisor("both", languages=("fi", "sv"))
        queue = health(caller("fi", 9), caller("sv", 5, "sv"))
        assert pairs([queue], [bilingual]) == [("fi", "both")]

    def test_the_pair_names_the_queue(self) -> None:
        assert match([social(caller("c", 1))], [advisor("s", skills=("social_counsellor",))]) == [
            Pair("social", caller("c", 1), "s")
        ]


class TestNobody:
    def test_nobody_free_pairs_nobody(self) -> None:
        assert pairs([health(caller("c", 5))], []) == []

    def test_nobody_waiting_pairs_nobody(self) -> None:
        assert pairs([health()], [advisor("aino")]) == []


class TestServedInOrder:
    """A queue that hands over only its front caller (Twilio's)."""

    def test_a_front_caller_nobody_free_can_serve_holds_the_queue(self) -> None:
        """The Finnish advisor called for this queue would be handed the Swedish caller."""
        queue = health(caller("sv1", 10, "sv"), caller("fi1", 5), in_order=True)
        assert pairs([queue], [advisor("aino")]) == []

    def test_callers_behind_a_served_front_are_served_in_turn(self) -> None:
        queue = health(caller("fi1", 10), caller("fi2", 5), caller("sv", 1, "sv"), in_order=True)
        both = [advisor("a", 9), advisor("b", 8)]
        assert pairs([queue], both) == [("fi1", "a"), ("fi2", "b")]

    def test_a_held_queue_leaves_the_others_served(self) -> None:
        held = health(caller("sv1", 10, "sv"), in_order=True)
        counsellor = advisor("s", skills=("social_counsellor",))
        assert pairs([held, social(caller("s1", 1))], [advisor("aino"), counsellor]) == [
            ("s1", "s")
        ]


class CountingCallers(Sequence[WaitingCaller]):
    """A queue's callers that count how many the matcher read."""

    def __init__(self, callers: list[WaitingCaller]) -> None:
        self._callers = callers
        self.read = 0

    def __iter__(self) -> Iterator[WaitingCaller]:
        for item in self._callers:
            self.read += 1
            yield item

    def __getitem__(self, index: int) -> WaitingCaller:  # type: ignore[override]
        self.read += 1
        return self._callers[index]

    def __len__(self) -> int:
        return len(self._callers)


class TestCost:
    """The bench has a thousand callers waiting while sixty advisors are busy."""

    def test_with_nobody_free_no_caller_is_read(self) -> None:
        waiting = CountingCallers([caller(f"c{n:04}", 1000 - n) for n in range(1000)])
        assert match([Queue("health", "nurse", waiting)], []) == []
        assert waiting.read == 0

    def test_the_walk_ends_once_every_free_advisor_is_paired(self) -> None:
        waiting = CountingCallers([caller(f"c{n:04}", 1000 - n) for n in range(1000)])
        assert len(match([Queue("health", "nurse", waiting)], [advisor("a"), advisor("b")])) == 2
        assert waiting.read == 2

    def test_a_queue_whose_skill_nobody_free_has_is_not_read(self) -> None:
        waiting = CountingCallers([caller(f"c{n:04}", 1000 - n) for n in range(1000)])
        counsellor = advisor("s", skills=("social_counsellor",))
        queues = [Queue("health", "nurse", waiting), social(caller("s1", 1))]
        assert pairs(queues, [counsellor]) == [("s1", "s")]
        assert waiting.read == 0


# -- against the policy written the slow, obvious way -----------------------------------------

SKILLS = ("nurse", "social_counsellor")
LANGUAGES = ("fi", "sv", "en")


def slow_match(queues: list[Queue], advisors: list[FreeAdvisor[str]]) -> list[tuple[str, str]]:
    """Repeat: the earliest caller (ties by id) a free advisor can serve, among the callers
    reachable (everyone, or a served-in-order queue's front), gets the longest-idle such
    advisor (ties by id)."""
    waiting = {q.name: list(q.callers) for q in queues}
    free = list(advisors)
    done: list[tuple[str, str]] = []
    while True:
        candidates = []
        for queue in queues:
            reachable = waiting[queue.name][:1] if queue.served_in_order else waiting[queue.name]
            for c in reachable:
                able = [a for a in free if queue.skill in a.skills and c.language in a.languages]
                if able:
                    best = min(able, key=lambda a: (a.idle_since, a.advisor_id))
                    candidates.append((c, queue.name, best))
        if not candidates:
            return done
        c, name, chosen = min(candidates, key=lambda found: found[0])
        waiting[name].remove(c)
        free.remove(chosen)
        done.append((c.call_id, chosen.advisor_id))


@st.composite
def lines(draw: st.DrawFn) -> tuple[list[Queue], list[FreeAdvisor[str]]]:
    in_order = draw(st.booleans())
    minutes = st.integers(min_value=0, max_value=20)
    queues = []
    for skill in SKILLS:
        languages = draw(st.lists(st.sampled_from(LANGUAGES), max_size=8))
        callers = [
            caller(f"{skill}-{n}", draw(minutes), language) for n, language in enumerate(languages)
        ]
        queues.append(Queue(skill, skill, sorted(callers), served_in_order=in_order))
    advisors = [
        advisor(
            f"adv-{n}",
            draw(minutes),
            skills=tuple(draw(st.sets(st.sampled_from(SKILLS), min_size=1))),
            languages=tuple(draw(st.sets(st.sampled_from(LANGUAGES), min_size=1))),
        )
        for n in range(draw(st.integers(min_value=0, max_value=6)))
    ]
    return queues, advisors


@given(lines())
def test_the_matcher_pairs_as_the_policy_says(
    line: tuple[list[Queue], list[FreeAdvisor[str]]],
) -> None:
    queues, advisors = line
    assert pairs(queues, advisors) == slow_match(queues, advisors)


@given(lines())
def test_no_advisor_is_left_idle_while_a_caller_they_can_serve_waits(
    line: tuple[list[Queue], list[FreeAdvisor[str]]],
) -> None:
    """What Erlang C and A assume (queues served in order excepted: their front holds)."""
    queues, advisors = line
    found = match(queues, advisors)
    paired_callers = {p.caller.call_id for p in found}
    paired_advisors = {p.advisor_id for p in found}
    assert len(paired_callers) == len(paired_advisors) == len(found)
    for p in found:
        queue = next(q for q in queues if q.name == p.queue)
        chosen = next(a for a in advisors if a.advisor_id == p.advisor_id)
        assert queue.skill in chosen.skills and p.caller.language in chosen.languages
    idle = [a for a in advisors if a.advisor_id not in paired_advisors]
    for queue in queues:
        if queue.served_in_order:
            continue
        for c in queue.callers:
            if c.call_id not in paired_callers:
                assert not any(
                    queue.skill in a.skills and c.language in a.languages for a in idle
                ), (c, idle)
