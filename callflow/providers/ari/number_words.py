"""Numbers as words, in each language's own grammar, composed from a few recorded pieces.

Asterisk's own number speaker (say.c) has no grammar for Finnish or Swedish
(it falls back to English word order), and a stop sent while it speaks is
lost, so a caller's key could not cut a position or a read-back short. We
say numbers with sound files of our own instead: each language has a
:class:`NumberGrammar` of about forty pieces (0 to 19, the tens, the
hundreds, the word for thousands), and a number is a few of them in a row:
21 is "kaksikymmentä" + "yksi", "tjugo" + "ett", "twenty" + "one"; 115 is
"sata" + "viisitoista", "etthundra" + "femton", "one hundred" + "and" +
"fifteen" (British English says the "and", as the en-GB voice reads "115").
Numbers below a million are said so, larger ones digit by digit.

Clock times are said as their text reads (``"{h}.{mm}"``, 9.30 → "yhdeksän
kolmekymmentä"): minutes below ten keep their zero as written (9.05 → "yhdeksän
nolla viisi", "nine oh five"), a full hour has no minutes ("kello yhdeksän").
"""

from __future__ import annotations

from dataclasses import dataclass

LARGEST = 999_999
"""Said as a number; anything larger is said digit by digit."""


@dataclass(frozen=True, slots=True)
class NumberGrammar:
    """How one language counts. Pieces are named after the value they say ("21" is
    never a piece, "20" and "1" are), or after their role ("thousand", "and", "oh")."""

    below_twenty: tuple[str, ...]
    """0 … 19."""
    tens: tuple[str, ...]
    """20, 30 … 90."""
    hundreds: tuple[str, ...]
    """100, 200 … 900."""
    thousand: str
    """Said after a count of thousands: "kaksi*tuhatta*", "två*tusen*", "two *thousand*"."""
    one_thousand: str | None = None
    """1000 … 1999 when the language says no "one" before it (Finnish "tuhat")."""
    and_word: str | None = None
    """Said before the last part below a hundred, after hundreds or thousands."""
    clock_zero: str | None = None
    """The leading zero of "9.05", when it is not the language's zero ("oh")."""

    def pieces(self) -> dict[str, str]:
        """Every piece's name and the words it says."""
        words = {str(n): text for n, text in enumerate(self.below_twenty)}
        words |= {str(20 + 10 * n): text for n, text in enumerate(self.tens)}
        words |= {str(100 + 100 * n): text for n, text in enumerate(self.hundreds)}
        words["thousand"] = self.thousand
        for name, text in (
            ("1000", self.one_thousand),
            ("and", self.and_word),
            ("oh", self.clock_zero),
        ):
            if text is not None:
                words[name] = text
        return words

    def number(self, n: int) -> list[str]:
        """The pieces that say *n* (0 or more)."""
        if n < 0:
            raise ValueError(f"{n} is negative: only counts, times and dates are said")
        if n > LARGEST:
            return self.digits(str(n))
        thousands, rest = divmod(n, 1000)
        if not thousands:
            return self._below_thousand(rest)
        if thousands == 1 and self.one_thousand is not None:
            said = ["1000"]
        else:
            said = [*self._below_thousand(thousands), "thousand"]
        return said + self._after(rest)

    def digits(self, text: str) -> list[str]:
        """*text*'s digits one by one: "040" → "nolla", "neljä", "nolla"."""
        return [ch for ch in text if ch.isdigit()]

    def two_digits(self, n: int) -> list[str]:
        """*n* as a clock's two digits say it: 5 → "nolla viisi" ("05"), 30 → "kolmekymmentä"."""
        if n >= 10:
            return self.number(n)
        return ["oh" if self.clock_zero is not None else "0", str(n)]

    def _below_thousand(self, n: int) -> list[str]:
        hundreds, rest = divmod(n, 100)
        if not hundreds:
            return self._below_hundred(n)
        return [str(100 * hundreds), *self._after(rest)]

    def _after(self, rest: int) -> list[str]:
        """What follows hundreds or thousands: nothing for 0, else the rest, with "and"."""
        if not rest:
            return []
        if rest < 100 and self.and_word is not None:
            return ["and", *self._below_hundred(rest)]
        return self._below_thousand(rest)

    def _below_hundred(self, n: int) -> list[str]:
        if n < 20:
            return [str(n)]
        tens, unit = divmod(n, 10)
        return [str(10 * tens)] + ([str(unit)] if unit else [])


GRAMMARS = {
    "fi": NumberGrammar(
        below_twenty=(
            *("nolla", "yksi", "kaksi", "kolme", "neljä", "viisi", "kuusi"),
            *("seitsemän", "kahdeksan", "yhdeksän", "kymmenen", "yksitoista", "kaksitoista"),
            *("kolmetoista", "neljätoista", "viisitoista", "kuusitoista", "seitsemäntoista"),
            *("kahdeksantoista", "yhdeksäntoista"),
        ),
        tens=(
            *("kaksikymmentä", "kolmekymmentä", "neljäkymmentä", "viisikymmentä"),
            *("kuusikymmentä", "seitsemänkymmentä", "kahdeksankymmentä", "yhdeksänkymmentä"),
        ),
        hundreds=(
            *("sata", "kaksisataa", "kolmesataa", "neljäsataa", "viisisataa", "kuusisataa"),
            *("seitsemänsataa", "kahdeksansataa", "yhdeksänsataa"),
        ),
        thousand="tuhatta",
        one_thousand="tuhat",
    ),
    "sv": NumberGrammar(
        below_twenty=(
            *("noll", "ett", "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio", "tio"),
            *("elva", "tolv", "tretton", "fjorton", "femton", "sexton", "sjutton", "arton"),
            "nitton",
        ),
        # "förtio" is how "fyrtio" is said; both spellings are Swedish.
        tens=("tjugo", "trettio", "förtio", "femtio", "sextio", "sjuttio", "åttio", "nittio"),
        hundreds=(
            *("etthundra", "tvåhundra", "trehundra", "fyrahundra", "femhundra", "sexhundra"),
            *("sjuhundra", "åttahundra", "niohundra"),
        ),
        thousand="tusen",
    ),
    "en": NumberGrammar(
        below_twenty=(
            *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight"),
            *("nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen"),
            *("sixteen", "seventeen", "eighteen", "nineteen"),
        ),
        tens=("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"),
        hundreds=(
            *("one hundred", "two hundred", "three hundred", "four hundred", "five hundred"),
            *("six hundred", "seven hundred", "eight hundred", "nine hundred"),
        ),
        thousand="thousand",
        and_word="and",
        clock_zero="oh",
    ),
}
"""The languages whose numbers we can say; a line in any other cannot run on Asterisk."""
