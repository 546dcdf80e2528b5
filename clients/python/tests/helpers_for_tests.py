"""Module-level helpers the tests ship as `depends` (a module and a function)."""


def triple(x):
    return 3 * x


class Box:
    def __init__(self, v):
        self.v = v
