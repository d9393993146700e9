"""``python -m idp.cli``: the same as the ``idp`` command."""

from . import main

main(prog_name="idp")
