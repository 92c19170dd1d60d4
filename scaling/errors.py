"""The one exception the toolkit raises for bad input.

Anything the user can get wrong (a file, a column, a row, an option) raises `ScalingError` with a
message that fits on one line and names what is wrong and where. The CLI prints it and exits 2.
"""


class ScalingError(ValueError):
    """Bad input: a one-line message naming the file, column and row where they are known."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line
