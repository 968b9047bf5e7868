"""The one exception the legal engine raises on bad input."""


class LawInputError(ValueError):
    """Input a rule cannot decide on; the message is one line naming the field at fault."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}".replace("\n", " "))
