"""Errors a user can cause. The CLI prints `str(error)` as one line and exits with code 2.

Each message names what is wrong and where (a config field path, a file and line).
"""


class UserInputError(Exception):
    """Bad config, bad history file, bad CLI argument."""


class ConfigError(UserInputError):
    pass


class HistoryFormatError(UserInputError):
    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = path, line, problem


class OutputPathError(UserInputError):
    """An output path that may not be written: a user's file, a file for a folder, read-only."""


class RunWarning(UserWarning):
    """Something that makes a run's numbers mean other than they seem (`run_warnings`);
    the Python API raises it as a warning, the CLI prints it, the summary keeps it."""
