"""What ``course grade`` writes: grades.csv, feedback per learner, report.md.

A submission whose grading failed for a reason that is not the learner's (status ``error``)
gets empty scores in grades.csv -- never a zero that looks earned --, comes first in the
report with the reason and what to do, and its learner is told it was not graded yet.
"""
from __future__ import annotations

import csv
import io

ERROR = "error"     # the grader or the sandbox failed: no score, not the learner's doing
UNSANDBOXED = "graded (no sandbox)"

_ICONS = {"correct": "correct", "incorrect": "incorrect", "not attempted": "not attempted",
          "checker error": "checker problem", "not graded": "not graded",
          "timed out": "timed out: your code ran past its time limit"}


def feedback_markdown(record: dict, release_name: str) -> str:
    """The learner's feedback: scores, the check's own words, what the grader did. No code."""
    problems = record["problems"]
    lines = [f"# Feedback on {release_name}: {record['learner']}", "",
             f"**Score: {record['total']} / {len(problems)}**", ""]
    if record["status"] == ERROR:
        lines = [f"# Feedback on {release_name}: {record['learner']}", "",
                 "**Not graded yet.** Grading your notebook failed for a reason that is not "
                 "your code; your instructor has been told and will grade it again.", ""]
        return "\n".join(lines) + "\n"
    if not record["status"].startswith("graded"):
        lines += [f"Your notebook could not be graded: {record.get('reason')}.", ""]
    lines += ["| exercise | result |", "|---|---|"]
    for p in problems:
        hidden = f" (and {p['hidden_count']} hidden check(s))" if p.get("hidden_count") else ""
        mark = "correct" + hidden if p["score"] else _ICONS.get(p["status"], p["status"])
        if p["status"] == "correct" and not p["score"]:
            mark = "a hidden check failed"
        lines.append(f"| {p['name']} | {mark} |")
    lines.append("")
    for p in problems:
        if p["score"] or not record["status"].startswith("graded"):
            continue
        hidden_failed = p["status"] == "correct"
        lines.append(f"## {p['name']}: " + ("the visible check passed, a hidden check did not"
                                            if hidden_failed else _ICONS.get(p["status"], p["status"])))
        lines.append("")
        if p["message"] and not hidden_failed:
            lines += [p["message"], ""]
        for i, h in enumerate(p.get("hidden", []), start=1):
            if h["status"] not in ("correct", "info"):
                lines += [f"A hidden check ({i} of {p['hidden_count']}) did not pass: {h['message']}", ""]
    notes = record.get("restored", []) + record.get("events", [])
    if notes or record.get("errors"):
        lines += ["## About your notebook", ""]
        if record.get("restored"):
            lines.append("- Only your answers are graded: cells outside the exercises were put "
                         "back as released (" + "; ".join(record["restored"]) + ").")
        lines += [f"- {e}" for e in record.get("events", [])]
        lines += [f"- error in {e}" for e in record.get("errors", [])[:10]]
        lines.append("")
    return "\n".join(lines) + "\n"


def _errors_first(record: dict):
    return (record["status"] != ERROR, record["learner"])


def grades_csv(records: list, problem_names: list) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["learner", *problem_names, "total", "out_of", "status"])
    for r in sorted(records, key=lambda r: r["learner"]):
        if r["status"] == ERROR:  # empty, never 0: nothing was earned or lost yet
            writer.writerow([r["learner"], *["" for _ in problem_names], "", len(problem_names),
                             r["status"]])
            continue
        scores = {p["name"]: p["score"] for p in r["problems"]}
        writer.writerow([r["learner"], *[scores.get(n, 0) for n in problem_names], r["total"],
                         len(problem_names), r["status"]])
    return buffer.getvalue()


def summary_table(records: list, problem_names: list) -> str:
    head = ["learner", *problem_names, "total", "status", "s", "notes"]
    rows = []
    for r in sorted(records, key=_errors_first):
        scores = {p["name"]: p["score"] for p in r["problems"]}
        if r["status"] == ERROR:
            scores = {n: "-" for n in problem_names}
        n_notes = len(r.get("restored", [])) + len(r.get("events", []))
        rows.append([r["learner"], *[str(scores.get(n, 0)) for n in problem_names],
                     f"{'-' if r['status'] == ERROR else r['total']}/{len(problem_names)}", r["status"], f"{r['seconds']:.0f}",
                     str(n_notes)])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*["-" * w for w in widths])] +
                     [fmt.format(*row) for row in rows])


def report_markdown(records, release, warnings, seconds, problem_names) -> str:
    from .notebooks import checksum
    lines = [f"# Grading report: {release.name}", "",
             f"{len(records)} submission(s) graded in {seconds:.0f} s. Release: `{release.path}` "
             f"(sha256 {checksum(release.path.read_text(encoding='utf-8'))[:12]}); question module "
             f"`{release.module}`; hidden checks: "
             f"{'yes' if release.hidden_source.strip() else 'none'}.", ""]
    if warnings:
        lines += ["## Warnings about the sandbox", ""] + [f"- **{w}**" for w in warnings] + [""]
    failed = [r for r in records if r["status"] == ERROR]
    if failed:
        lines += [f"## NOT GRADED: {len(failed)} submission(s) failed for reasons that are not "
                  f"the learners'", "",
                  "Their scores are empty in grades.csv. Fix the cause below, then run "
                  "`course grade` again (the others will be graded again too).", ""]
        lines += [f"- **{r['learner']}**: {r.get('reason')}" for r in failed] + [""]
    lines += ["## Summary", "", "```", summary_table(records, problem_names), "```", ""]
    lines += ["## Per submission", ""]
    for r in sorted(records, key=_errors_first):
        score = "-" if r["status"] == ERROR else r["total"]
        lines.append(f"### {r['learner']} ({score}/{len(problem_names)}, {r['status']})")
        if r.get("reason"):
            lines.append(f"- {r['reason']}")
        for p in r["problems"]:
            hidden = "".join(f"; hidden: {h['status']}" for h in p.get("hidden", []))
            lines.append(f"- {p['name']}: {p['status']}{hidden}")
        for item in r.get("restored", []) + r.get("events", []) + r.get("errors", [])[:10]:
            lines.append(f"- {item}")
        if r.get("hidden_error"):
            lines.append(f"- HIDDEN CHECKS FAILED TO LOAD: {r['hidden_error']}")
        lines.append("")
    return "\n".join(lines)


