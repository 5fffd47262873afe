"""The scenarios, one module each: ``sNN_<name>.py`` exposing ``SCENARIO`` (see ``reliability.core.Scenario``).

``reliability.core.discover`` finds them by file name, so adding a scenario is adding a file; a number
whose module does not exist is simply absent from the table.
"""
