"""Rendering shared by every command: rich tables for people, JSON/CSV/TSV for machines."""

from .environment import Environment
from .report import Check, Report, render_report, render_rows
from .values import field_text, non_finite_notes, plain, table_text

__all__ = ["Environment", "Check", "Report", "non_finite_notes", "render_report", "render_rows", "field_text",
           "plain", "table_text"]
