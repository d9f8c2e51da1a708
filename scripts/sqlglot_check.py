#!/usr/bin/env python3
"""Check that SQL statements parse as Athena SQL with sqlglot.

Usage:
    python scripts/sqlglot_check.py statements.json
    some-command | python scripts/sqlglot_check.py        # or: ... -

Input: a JSON array of objects {"name": "...", "sql": "..."}. Each "sql" may
hold one or more statements separated by ';'. Template parameters ({{name}})
must already be substituted.

Each item is parsed with
    sqlglot.parse(sql, read="athena", error_level=sqlglot.ErrorLevel.RAISE)
and the check fails (exit status 1, failing names and reasons on stderr) when:
  * sqlglot raises a parse error;
  * a statement parses to sqlglot.exp.Command, i.e. sqlglot did not understand
    it and kept it as opaque text (it does this silently, for example for a
    CREATE EXTERNAL TABLE whose LOCATION keyword is misspelt), unless the
    statement starts with an allowed prefix (ALLOWED_COMMAND_PREFIXES: Athena
    statements that sqlglot only knows as commands);
  * an item holds no statement at all, or the input array is empty.
On success it prints "N statements parsed" (N counts statements, not items).
Exit status 2 means the input itself is unreadable.

Requires sqlglot (pip install sqlglot).
"""

import json
import logging
import re
import sys

import sqlglot
from sqlglot import exp

# Statements that sqlglot parses as exp.Command although they are valid Athena.
ALLOWED_COMMAND_PREFIXES = (
    "MSCK REPAIR TABLE",
    "UNLOAD",
)


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _normalise_prefix(text):
    """Upper-case the start of a statement with runs of whitespace folded."""
    return re.sub(r"\s+", " ", text.strip()).upper()


def command_allowed(statement):
    text = _normalise_prefix(statement.sql(dialect="athena"))
    return any(
        text == prefix or text.startswith(prefix + " ") or text.startswith(prefix + "(")
        for prefix in ALLOWED_COMMAND_PREFIXES
    )


def check_item(item):
    """Return (number of statements, list of error strings) for one item."""
    sql = item["sql"]
    try:
        statements = sqlglot.parse(sql, read="athena", error_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.SqlglotError as err:
        message = ANSI_ESCAPE.sub("", str(err))
        return 0, ["parse error: %s" % " ".join(message.split())]
    statements = [s for s in statements if s is not None]
    errors = []
    if not statements:
        errors.append("no SQL statement")
    for index, statement in enumerate(statements, 1):
        if isinstance(statement, exp.Command) and not command_allowed(statement):
            text = " ".join(statement.sql(dialect="athena").split())
            errors.append(
                "statement %d was not understood (sqlglot fell back to Command): %s"
                % (index, text[:120])
            )
    return len(statements), errors


def load_items(argv):
    if len(argv) > 2:
        raise ValueError("usage: sqlglot_check.py [FILE|-]")
    if len(argv) == 2 and argv[1] != "-":
        with open(argv[1], encoding="utf-8") as handle:
            data = json.load(handle)
    else:
        data = json.load(sys.stdin)
    if not isinstance(data, list):
        raise ValueError("input must be a JSON array of {\"name\", \"sql\"} objects")
    for position, item in enumerate(data):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("sql"), str)
        ):
            raise ValueError("item %d is not an object with string \"name\" and \"sql\"" % position)
    return data


def main(argv):
    # sqlglot logs a warning for every Command fallback; we report those ourselves.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    try:
        items = load_items(argv)
    except (OSError, ValueError) as err:
        print("sqlglot_check: %s" % err, file=sys.stderr)
        return 2
    if not items:
        print("sqlglot_check: FAILED: the statement list is empty", file=sys.stderr)
        return 1
    total = 0
    failures = []
    for item in items:
        count, errors = check_item(item)
        total += count
        failures.extend((item["name"], error) for error in errors)
    if failures:
        print("sqlglot_check: FAILED (%d problems)" % len(failures), file=sys.stderr)
        for name, error in failures:
            print("  %s: %s" % (name, error), file=sys.stderr)
        print("%d statements parsed" % total)
        return 1
    print("%d statements parsed" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
