"""In-order scoreboard that accounts for every transaction."""

__all__ = ["Scoreboard", "ScoreboardError"]


class ScoreboardError(AssertionError):
    """A transaction was wrong, missing or unexpected."""


class Scoreboard:
    """Compares received transactions, in order, with expected ones.

    Counts every expected, received, matched and mismatched transaction;
    :meth:`check_done` fails if anything is still outstanding or extra.
    ``formatter`` turns a transaction into text for messages.
    """

    def __init__(self, name: str, formatter=hex, max_reported: int = 10):
        self.name = name
        self.formatter = formatter
        self.max_reported = max_reported
        self.expected = []
        self.received = 0
        self.matched = 0
        self.mismatches = []

    def expect(self, items) -> None:
        self.expected.extend(items)

    def receive(self, item) -> None:
        index = self.received
        self.received += 1
        if index >= len(self.expected):
            self.mismatches.append((index, None, item))
            return
        if item == self.expected[index]:
            self.matched += 1
        else:
            self.mismatches.append((index, self.expected[index], item))

    def summary(self) -> str:
        return (f"scoreboard {self.name}: expected {len(self.expected)}, received "
                f"{self.received}, matched {self.matched}, mismatched {len(self.mismatches)}")

    def check_done(self) -> None:
        problems = []
        for index, want, got in self.mismatches[:self.max_reported]:
            want_text = "nothing (extra transaction)" if want is None else self.formatter(want)
            problems.append(f"  #{index}: expected {want_text}, got {self.formatter(got)}")
        if self.received < len(self.expected):
            problems.append(f"  {len(self.expected) - self.received} transactions never arrived")
        if problems:
            raise ScoreboardError(self.summary() + "\n" + "\n".join(problems))
