"""The study summary a report is rendered from: plain, validated JSON written into the run folder."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

# The reference study's table (Inter IIT Tech Meet 2022, Kinetics scale): top-1 of the stolen student.
REFERENCE_TABLE = {
    "black-box distil": {"Video Swin-T (K400)": 0.078, "MoViNet (K600)": 0.1243},
    "grey-box KD (irrelevant videos)": {"Video Swin-T (K400)": 0.083, "MoViNet (K600)": 0.138},
    "fine-tune 5% (dense)": {"Video Swin-T (K400)": 0.126, "MoViNet (K600)": 0.223},
    "fine-tune 5% (winning ticket)": {"Video Swin-T (K400)": 0.173, "MoViNet (K600)": 0.335},
}


class Cell(BaseModel):
    """One method on one victim: held-out student metrics (mean over seeds, with std when several)."""

    top1: float
    agreement: float | None = None
    queries: int | None = None
    top1_std: float | None = None
    seeds: int = 1


class VictimInfo(BaseModel):
    arch: str
    student: str = Field(description="student architecture attacked with")
    top1: float = Field(description="the victim's own held-out top-1")
    ceiling_top1: float | None = Field(None, description="student distilled on the victim's own distribution")


class Spent(BaseModel):
    """What one attack run paid against its budget and, for a class-embedding search, how far the search got."""

    pair: str
    method: str
    seed: int
    budget: int
    paid: int = Field(description="victim queries paid; equal to the run's query log (checked when recorded)")
    classes: int | None = Field(None, description="victim classes the search looked for")
    classes_reached: int | None = Field(None, description="classes whose search reached the confidence threshold")
    threshold: float | None = None
    search_queries: int | None = Field(None, description="queries the search spent (the rest went to distillation)")


class Figure(BaseModel):
    title: str
    file: str = Field(description="PNG file name inside the report's figures/ folder")
    caption: str = ""


class Table(BaseModel):
    """A table of its own beside the main one (e.g. the defence matrix): header and rows of ready-made text."""

    title: str
    header: list[str]
    body: list[list[str]]
    caption: str = ""


class Study(BaseModel):
    title: str = "vidsteal study"
    command: str = Field("", description="exact command that reproduces this run")
    seeds: list[int] = Field(default_factory=lambda: [0])
    victims: dict[str, VictimInfo] = Field(default_factory=dict)
    rows: dict[str, dict[str, Cell]] = Field(default_factory=dict, description="method -> victim -> cell")
    figures: list[Figure] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list, description="further tables, after the main one")
    spent: list[Spent] = Field(default_factory=list, description="per attack run: queries paid, search outcome")
    notes: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    wall_seconds: float | None = None
    peak_rss_mb: float | None = None
