"""Errors that mean "the input is wrong": the CLI prints them without a traceback and exits 2."""


class UserError(Exception):
    """Bad input from the user (a missing folder, an unreadable file, an impossible setting).

    The message must name the file or key and say what to do.
    """
