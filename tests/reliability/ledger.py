"""The reliability suite's ledger: what each scenario did, as a Markdown table for pytest's summary and the docs."""

from dataclasses import dataclass, field


@dataclass
class Figures:
    """What one scenario did."""

    requests: int = 0
    errors: int = 0
    files_verified: int = 0
    faults_survived: int = 0


@dataclass
class Ledger:
    """The figures of every scenario of the run, in the order they were first recorded."""

    scenarios: dict[str, Figures] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def record(self, scenario: str, requests: int = 0, errors: int = 0, files: int = 0, faults: int = 0) -> None:
        """Add to a scenario's figures; errors are recorded before a test asserts there were none."""
        figures = self.scenarios.setdefault(scenario, Figures())
        figures.requests += requests
        figures.errors += errors
        figures.files_verified += files
        figures.faults_survived += faults

    def note(self, what: str, count: int) -> None:
        """Count something that is not a request, e.g. the examples a property test tried."""
        self.notes[what] = self.notes.get(what, 0) + count

    def table(self, passed: int, failed: int, xfailed: int = 0, seconds: float = 0.0) -> str:
        """The figures as a Markdown table, with a total row and the tests' outcome."""
        rows = [
            "| scenario | requests served | errors | files verified | faults survived |",
            "|---|---:|---:|---:|---:|",
        ]
        total = Figures()
        for scenario, figures in self.scenarios.items():
            rows.append(
                f"| {scenario} | {figures.requests:,} | {figures.errors:,} | {figures.files_verified:,} "
                f"| {figures.faults_survived:,} |"
            )
            total.requests += figures.requests
            total.errors += figures.errors
            total.files_verified += figures.files_verified
            total.faults_survived += figures.faults_survived
        rows.append(
            f"| **total** | **{total.requests:,}** | **{total.errors:,}** | **{total.files_verified:,}** "
            f"| **{total.faults_survived:,}** |"
        )
        lines = ["", *rows, ""]
        lines += [f"- {what}: {count:,}" for what, count in self.notes.items()]
        known = f", {xfailed} failing on known bugs (xfail)" if xfailed else ""
        lines.append(f"- reliability tests: {passed} passed, {failed} failed{known}, in {seconds:.0f} s")
        return "\n".join(lines[1:]) + "\n"
