"""report.md of a tour run, laid out from the report's `Section`s (relative image links)."""

from __future__ import annotations

from triptych.report.sections import Section, tour_sections
from triptych.tour.results import TourResults


def section_markdown(section: Section, level: int = 2) -> list[str]:
    lines = [f"{'#' * level} {section.title}", ""]
    if section.intro:
        lines += [section.intro, ""]
    if section.bullets:
        lines += [f"- {b}" for b in section.bullets] + [""]
    if section.header:
        lines.append("| " + " | ".join(section.header) + " |")
        lines.append("|---" * len(section.header) + "|")
        for row in section.rows:
            lines.append("| " + " | ".join(c.text for c in row) + " |")
        lines.append("")
    if section.pre:
        lines += [section.pre, ""]
    lines += [f"![{f.caption}]({f.path})" for f in section.figures]
    return [*lines, ""] if section.figures else lines


def tour_markdown(results: TourResults) -> str:
    sections = tour_sections(results)
    lines = section_markdown(sections[0], level=1)
    for section in sections[1:]:
        lines += section_markdown(section)
    return "\n".join(lines)
