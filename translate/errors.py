"""The error types that reach users as one line (the CLIs print them and exit with code 2)."""


class UserError(Exception):
    """A problem with the user's input, reported as one line naming the input and the fix."""


class ImageError(UserError):
    """An image file that cannot be decoded safely; the message names the file and the problem."""


class ModelFileError(UserError):
    """A model or training-state file that is missing, corrupt, of the wrong kind or of the wrong task."""


class ConfigError(UserError):
    """A recipe file or command-line value that is invalid."""


def os_error(err: OSError) -> str:
    """'PATH: problem' for a file-system error."""
    where = f"{err.filename}: " if err.filename else ""
    return f"{where}{err.strerror or err}"
