"""Output: table (aligned text), json (one document), tsv (bare values for shell variables), none.

Changes print one line each: ``created | updated | unchanged | deleted`` (``would create`` ... with
``--dry-run``), the kind, the name, the ids, and the reason for a change. ``-o json`` prints one
document ``{"changes": [...], "result": {...}}`` where ``result`` holds the ids a script needs next;
``-o tsv`` prints the command's bare values (``APP_ID=$(entra-bootstrap app create x -o tsv)``).
Errors go to stderr as ``error[CODE]: message`` with the object and the fix (``-o json``: a JSON
document ``{"error": {...}}`` on stdout). Nothing here ever prints a token or a secret: renderers
receive only ids, names and Graph's own messages.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence

from .engine import Change
from .errors import CliError

FORMATS = ("table", "json", "tsv", "none")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str = "") -> None:
    sys.stderr.write(text + "\n")


def _ids(ids: dict[str, str]) -> str:
    return "  ".join(f"{k}={v}" for k, v in ids.items() if v)


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def _tsv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value).replace("\t", " ").replace("\n", " ")


def _tsv_lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return ["\t".join(_tsv_cell(v) for v in (item.values() if isinstance(item, dict) else
                                                   item if isinstance(item, list) else [item]))
                for item in value]
    if isinstance(value, dict):
        return ["\t".join(_tsv_cell(v) for v in value.values())]
    return [_tsv_cell(value)]


class Output:
    def __init__(self, fmt: str = "table", verbose: int = 0, query: str | None = None):
        self.format = fmt
        self.verbose = verbose
        self.query = query            # --query: a JMESPath expression on the JSON document

    def _json(self, doc: Any) -> None:
        """A command's JSON document, or with ``--query`` what the JMESPath expression selects from
        it, printed as JSON or, with ``-o tsv``, as bare values (a list: one line per item; a row:
        its values tab-separated) - as the Azure CLI does."""
        if self.query:
            import jmespath

            doc = jmespath.search(self.query, doc)
            if self.format == "tsv":
                for line in _tsv_lines(doc):
                    _out(line)
                return
            if self.format == "none":
                return
        _out(json.dumps(doc, indent=2))

    # --- changes ------------------------------------------------------------------------------
    def changes(self, changes: Sequence[Change], *, result: dict | None = None,
                tsv: Iterable[Any] | None = None, dry_run: bool = False,
                error: CliError | None = None) -> None:
        """``error`` (json only): a run that failed after ``changes``, as one document."""
        if self.format == "none":
            return
        if self.format == "json" or self.query:
            doc: dict[str, Any] = {"changes": [c.as_dict() for c in changes]}
            if dry_run:
                doc["dryRun"] = True
            if result is not None:
                doc["result"] = result
            if error is not None:
                doc["error"] = error.as_dict()
            self._json(doc)
            return
        if self.format == "tsv":
            values = list(tsv) if tsv is not None else [c.ids.get(next(iter(c.ids), ""), "")
                                                        for c in changes[-1:]]
            _out("\t".join(_tsv_cell(v) for v in values))
            return
        rows = []
        for c in changes:
            rows.append([c.outcome, c.kind, c.name, _ids(c.ids)])
        for line, c in zip(_columns(rows), changes):
            _out(line + (f"  ({c.reason})" if c.reason and (c.changed or self.verbose) else ""))
        notes = dict.fromkeys(n for c in changes for n in c.notes)
        for note in notes:
            _out(f"note: {note}")
        if dry_run:
            _out("dry run: nothing was written")

    # --- outputs (up's handover) -----------------------------------------------------------------
    def outputs(self, result: dict) -> None:
        """``up`` (table only, after the change lines): the ids the workload needs, then per target
        the exact command to run there. ``-o json`` has the same under ``result``; tsv and none
        print nothing more."""
        if self.format != "table":
            return
        rows = []
        if result.get("tenantId"):
            rows.append(["tenant id", result["tenantId"]])
        for name, app in (result.get("apps") or {}).items():
            if app.get("appId"):
                rows.append([f"app {name} client id", app["appId"]])
        for name, ident in (result.get("identities") or {}).items():
            for key, label in (("clientId", "client id"), ("principalId", "principal id")):
                if ident.get(key):
                    rows.append([f"identity {name} {label}", ident[key]])
        if rows:
            _out()
            _out("outputs:")
            for line in _columns(rows):
                _out("  " + line)
        for w in result.get("workloads") or ():
            _out()
            _out(f"on {w['target']} (identity {w['identity']}, app {w['app']}), run:")
            _out(f"  {w['command']}")

    # --- plan ----------------------------------------------------------------------------------
    def plan(self, changes: Sequence[Change], *, pending: bool, error: CliError | None = None) -> None:
        """``plan``: + create, ~ update, - delete, = unchanged, in the order it would run.
        ``error`` (json only): the plan stopped by it, as the one document (``error`` beside ``plan``)."""
        summary = {"create": 0, "update": 0, "delete": 0, "unchanged": 0, "undeclared": 0}
        for c in changes:
            summary[c.action] += 1
        if self.format == "json" or self.query:
            doc = {"plan": [c.as_dict() | {"symbol": c.symbol} for c in changes],
                   "pending": pending, "summary": summary}
            if error is not None:
                doc["error"] = error.as_dict()
            self._json(doc)
            return
        if self.format == "tsv":
            for c in changes:
                _out(f"{c.symbol}\t{c.kind}\t{c.name}\t{c.reason}")
            return
        if self.format == "none":
            return
        for c in changes:
            if c.action == "undeclared":
                _out(f"{c.symbol} {c.kind} {c.name}  (not in file: {c.reason})")
                continue
            detail = f"  ({c.reason})" if c.reason and (c.changed or self.verbose) else ""
            fields = f"  [{', '.join(c.fields)}]" if c.fields else ""
            _out(f"{c.symbol} {c.kind} {c.name}{fields}{detail}")
        undeclared = f", {summary['undeclared']} not in file" if summary["undeclared"] else ""
        _out(f"Plan: {summary['create']} to create, {summary['update']} to update, "
             f"{summary['delete']} to delete, {summary['unchanged']} unchanged{undeclared}.")

    # --- checks (verify) --------------------------------------------------------------------------
    def checks(self, checks: Sequence[dict]) -> None:
        """``verify``: one line per check with pass/FAIL, the detail and the fix."""
        if self.format == "json" or self.query:
            self._json({"passed": all(c["passed"] for c in checks), "checks": list(checks)})
            return
        if self.format == "none":
            return
        for c in checks:
            if self.format == "tsv":
                _out("\t".join([("pass" if c["passed"] else "fail"), c["check"], c["detail"], c.get("fix") or ""]))
                continue
            _out(f"{'pass' if c['passed'] else 'FAIL'}  {c['check']}: {c['detail']}")
            if not c["passed"] and c.get("fix"):
                _out(f"      fix: {c['fix']}")
        if self.format == "table":
            failed = sum(not c["passed"] for c in checks)
            _out(f"{len(checks) - failed} passed, {failed} failed")

    # --- records (show / list) ------------------------------------------------------------------
    def records(self, rows: Sequence[dict], columns: Sequence[str], *, json_doc: Any = None,
                tsv_columns: Sequence[str] | None = None, empty: str = "") -> None:
        if self.format == "none":
            return
        if self.format == "json" or self.query:
            self._json(json_doc if json_doc is not None else list(rows))
            return
        if self.format == "tsv":
            for row in rows:
                _out("\t".join(_tsv_cell(row.get(col)) for col in (tsv_columns or columns)))
            return
        if not rows:
            if empty:
                _out(empty)
            return
        table = [list(columns)] + [[_tsv_cell(row.get(col)) for col in columns] for row in rows]
        for line in _columns(table):
            _out(line)

    def record(self, fields: dict, *, tsv: Iterable[Any] | None = None) -> None:
        """One object as ``key: value`` lines (json: the dict; tsv: the given bare values)."""
        if self.format == "none":
            return
        if self.format == "json" or self.query:
            self._json(fields)
            return
        if self.format == "tsv":
            values = list(tsv) if tsv is not None else list(fields.values())
            _out("\t".join(_tsv_cell(v) for v in values))
            return
        width = max((len(k) for k in fields), default=0)
        for key, value in fields.items():
            if isinstance(value, (list, tuple)):
                value = ", ".join(str(v) for v in value) if value else "-"
            _out(f"{key.ljust(width)}  {'-' if value in (None, '') else value}")

    def note(self, text: str) -> None:
        """Progress or advice for humans: stderr, so tsv/json on stdout stay clean."""
        if self.format != "none" or self.verbose:
            _err(text)

    # --- errors ---------------------------------------------------------------------------------
    def error(self, err: CliError) -> None:
        if self.format == "json":
            _out(json.dumps({"error": err.as_dict()}, indent=2))
            return
        _err(f"error[{err.code}]: {err.message}")
        if err.object:
            _err(f"  object: {err.object}")
        if err.fix:
            _err(f"  fix: {err.fix}")
