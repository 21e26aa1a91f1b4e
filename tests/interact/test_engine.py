"""The engine: sequential answers, gates, loops, amendments, reopen, progress, status."""

from __future__ import annotations

import pytest

from qms.domain.interact import engine
from qms.domain.interact.template import END, parse_template
from qms.errors import InvalidTransition, ValidationError


@pytest.fixture
def run(vr_template, fresh, clock):
    """``run(value, **kw)`` answers the cursor prompt of ``fresh`` as claude."""
    def answer(value, source=None, **kw):
        return engine.respond(vr_template, source or fresh, value, author="claude",
                              now=clock(), **kw)
    return answer


def one_step(run, outcome="Pass", more="no"):
    run("do it")
    run("it works")
    run("it worked")
    run(outcome)
    run(more)


@pytest.mark.req("REQ-INT-014")
def test_answers_go_to_the_cursor_in_template_order(run, fresh):
    assert run("EI-1").next == "objective"
    assert fresh.responses["related_eis"][0] == {
        "value": "EI-1", "author": "claude", "timestamp": "2026-03-01T09:01:00Z"}
    run("Objective")
    rec = run("Pre")
    assert rec.key == "pre_conditions" and fresh.cursor == "step_instructions"
    assert fresh.cursor_context == {"loop": "steps", "iteration": 1}
    assert fresh.loops["steps"] == {"iterations": 1, "closed": False, "reopenings": []}


@pytest.mark.req("REQ-INT-011")
def test_empty_answers_are_refused_and_values_normalized(run, fresh):
    for empty in ("", "  \n\n "):
        with pytest.raises(ValidationError, match="empty response"):
            run(empty)
    run("\n\n  indented first line\r\nsecond  \n\n")
    assert fresh.active("related_eis") == "  indented first line\nsecond"


@pytest.mark.req("REQ-INT-005")
def test_loop_iterations_and_gate_decisions(run, fresh):
    for value in ("EI-1", "obj", "pre"):
        run(value)
    one_step(run, more="YES")
    assert fresh.cursor == "step_instructions"
    assert fresh.cursor_context == {"loop": "steps", "iteration": 2}
    with pytest.raises(ValidationError, match="yes or no"):
        one_step(run, more="maybe")
    assert fresh.cursor == "more_steps" and "more_steps.2" not in fresh.gates
    run("no")
    assert fresh.gates["more_steps.1"]["value"] == "yes"
    assert fresh.gates["more_steps.2"] == {"value": "no", "author": "claude",
                                           "timestamp": fresh.gates["more_steps.2"]["timestamp"]}
    assert fresh.loops["steps"]["closed"] and fresh.loops["steps"]["iterations"] == 2
    assert fresh.cursor == "summary_outcome" and fresh.cursor_context == {}
    assert set(fresh.responses) >= {"step_actual.1", "step_actual.2", "step_outcome.2"}
    run("Pass")
    run("All good")
    assert fresh.cursor == END
    with pytest.raises(InvalidTransition, match="every prompt is answered"):
        run("more")


@pytest.mark.req("REQ-INT-020")
def test_commit_prompts_call_the_committer_after_validation(run, fresh):
    calls = []

    def commit(context, prompt_id):
        calls.append((context, prompt_id))
        return "abc1234"

    for value in ("EI-1", "obj", "pre", "inst", "exp"):
        run(value, commit=commit)
    assert calls == []
    with pytest.raises(ValidationError):
        run("   ", commit=commit)
    assert calls == []
    rec = run("output", commit=commit)
    assert calls == [("steps.1", "step_actual")] and rec.commit == "abc1234"
    assert fresh.responses["step_actual.1"][0]["commit"] == "abc1234"
    run("Pass", commit=commit)
    assert "commit" not in fresh.responses["step_outcome.1"][0]


@pytest.mark.req("REQ-INT-009")
@pytest.mark.req("REQ-INT-012")
def test_goto_amends_with_reason_and_returns(vr_template, run, fresh):
    for value in ("EI-1", "obj", "pre", "inst"):
        run(value)
    with pytest.raises(ValidationError, match="requires a reason"):
        engine.goto(vr_template, fresh, "related_eis", None)
    with pytest.raises(ValidationError, match="summary_outcome has not been answered"):
        engine.goto(vr_template, fresh, "summary_outcome", "why")
    with pytest.raises(ValidationError, match="gate"):
        engine.goto(vr_template, fresh, "more_steps.1", "why")
    engine.goto(vr_template, fresh, "related_eis", "Add EI-2")
    assert fresh.cursor == "related_eis" and engine.amending(fresh)
    assert "AMENDMENT MODE (reason: Add EI-2)" in engine.status_text(vr_template, fresh, "claude")
    rec = run("EI-1, EI-2")
    assert rec.amended and rec.next == "step_expected"
    assert fresh.cursor_context == {"loop": "steps", "iteration": 1}
    entries = fresh.responses["related_eis"]
    assert [e["value"] for e in entries] == ["EI-1", "EI-1, EI-2"]
    assert entries[1]["reason"] == "Add EI-2" and "reason" not in entries[0]


def test_goto_inside_loop_and_explicit_reason_wins(vr_template, run, fresh):
    for value in ("EI-1", "obj", "pre", "inst", "exp"):
        run(value)
    engine.goto(vr_template, fresh, "step_instructions", "typo")  # current iteration
    assert fresh.cursor_context["iteration"] == 1
    run("inst fixed", reason="fixed a typo")
    assert fresh.responses["step_instructions.1"][-1]["reason"] == "fixed a typo"
    assert fresh.cursor == "step_actual"
    fresh.cursor_context = {}
    with pytest.raises(ValidationError, match="name the iteration"):
        engine.goto(vr_template, fresh, "step_instructions", "x")


def test_legacy_amendment_without_stored_reason_needs_one(vr_template, run, fresh):
    run("EI-1")
    fresh.cursor_context = {"goto_return": "objective", "goto_return_ctx": {}}
    fresh.cursor = "related_eis"
    with pytest.raises(ValidationError, match="requires a reason"):
        run("EI-9")
    assert len(fresh.responses["related_eis"]) == 1


def test_reason_outside_amendment_is_refused(run):
    with pytest.raises(ValidationError, match="only to amendments"):
        run("EI-1", reason="nope")


@pytest.mark.req("REQ-INT-012")
def test_cancel_goto_returns_without_recording(vr_template, run, fresh):
    run("EI-1")
    with pytest.raises(InvalidTransition, match="no amendment"):
        engine.cancel_goto(vr_template, fresh)
    engine.goto(vr_template, fresh, "related_eis", "maybe")
    engine.cancel_goto(vr_template, fresh)
    assert fresh.cursor == "objective" and fresh.cursor_context == {}
    assert len(fresh.responses["related_eis"]) == 1


@pytest.mark.req("REQ-INT-012")
def test_reopen_closed_loop_then_return(vr_template, run, fresh, clock):
    for value in ("EI-1", "obj", "pre"):
        run(value)
    one_step(run)
    run("Pass")
    run("Summary")
    assert fresh.cursor == END
    with pytest.raises(ValidationError, match="no loop 'nope'"):
        engine.reopen(vr_template, fresh, "nope", reason="x", author="claude", now=clock())
    with pytest.raises(ValidationError, match="requires a reason"):
        engine.reopen(vr_template, fresh, "steps", reason=" ", author="claude", now=clock())
    engine.reopen(vr_template, fresh, "steps", reason="missed a check", author="claude",
                  now=clock())
    assert fresh.cursor == "step_instructions"
    assert fresh.cursor_context == {"loop": "steps", "iteration": 2,
                                    "reopen_return": END, "reopen_return_ctx": {}}
    state = fresh.loops["steps"]
    assert state["iterations"] == 2 and not state["closed"]
    assert state["reopenings"][0]["reason"] == "missed a check"
    shown = engine.status_text(vr_template, fresh, "claude")
    assert "leaving it returns to the end" in shown and END not in shown  # no internal name
    with pytest.raises(InvalidTransition, match="not closed"):
        engine.reopen(vr_template, fresh, "steps", reason="again", author="claude", now=clock())
    one_step(run, more="yes")
    one_step(run, more="no")
    assert fresh.cursor == END and fresh.cursor_context == {}
    assert fresh.loops["steps"]["iterations"] == 3 and fresh.loops["steps"]["closed"]
    assert [e["value"] for e in fresh.responses["summary_outcome"]] == ["Pass"]


@pytest.mark.req("REQ-INT-015")
def test_guidance_interpolation(fresh, clock):
    t = parse_template(
        "<!-- @template: T | version: 1 | start: a -->\n"
        "<!-- @prompt: a | next: b -->\nName?\n<!-- @end-prompt -->\n"
        "<!-- @loop: l -->\n<!-- @prompt: b | next: c -->\n"
        "Pass {{_n}} for {{a}} in {{vr_id}}; unknown {{zzz}}\n<!-- @end-prompt -->\n"
        "<!-- @gate: c | yes: b | no: end -->\nAgain after {{b}}?\n<!-- @end-prompt -->\n"
        "<!-- @end-loop: l -->\n")
    fresh.cursor = "a"
    engine.respond(t, fresh, "Alice", author="u", now=clock())
    assert "Pass 1 for Alice in CR-001-VR-001; unknown {{zzz}}" in engine.status_text(t, fresh, "u")
    engine.respond(t, fresh, "first", author="u", now=clock())
    assert "Again after first?" in engine.status_text(t, fresh, "u")


@pytest.mark.req("REQ-INT-013")
def test_progress_lists_prompts_with_fill_status(vr_template, run, fresh):
    for value in ("EI-1", "obj", "pre", "inst"):
        run(value)
    text = engine.progress_text(vr_template, fresh)
    assert "  [x] step_instructions.1 [steps.1]" in text
    assert "  [ ] step_expected.1 [steps.1]  <- current" in text
    assert "  [ ] step_actual.1 (commit) [steps.1]" in text
    assert "  [ ] more_steps.1 [steps.1]" in text and "  [ ] summary_narrative" in text
    engine.goto(vr_template, fresh, "objective", "why")
    run("obj2")
    assert "  [x] objective (amended)" in engine.progress_text(vr_template, fresh)


@pytest.mark.req("REQ-INT-013")
def test_progress_lists_a_loop_iteration_by_iteration(vr_template, run, fresh):
    for value in ("EI-1", "obj", "pre"):
        run(value)
    one_step(run, more="yes")
    run("second step")
    keys = [item.key for item in engine.progress(vr_template, fresh)]
    loop = [k for k in keys if k.startswith(("step_", "more_steps"))]
    assert loop == [f"{k}.{n}" for n in (1, 2) for k in (
        "step_instructions", "step_expected", "step_actual", "step_outcome", "more_steps")]
    assert keys[:3] == ["related_eis", "objective", "pre_conditions"]
    assert keys[-2:] == ["summary_outcome", "summary_narrative"]


@pytest.mark.req("REQ-INT-010")
def test_status_text(vr_template, run, fresh):
    text = engine.status_text(vr_template, fresh, "claude")
    assert text.startswith("CR-001-VR-001 (template VR v5)\nPrompt: related_eis")
    assert "Which execution item(s)" in text
    assert 'qms --user claude interact CR-001-VR-001 --respond "..."' in text
    for value in ("EI-1", "obj", "pre", "inst", "exp"):
        run(value)
    text = engine.status_text(vr_template, fresh, "claude")
    assert "Prompt: step_actual.1" in text and "Loop steps, iteration 1." in text
    assert "git evidence commit" in text
    run("out")
    run("Pass")
    assert "--respond yes|no" in engine.status_text(vr_template, fresh, "claude")
    run("no")
    run("Pass")
    run("done")
    assert "All prompts are answered" in engine.status_text(vr_template, fresh, "claude")


TWO_LOOPS = """<!-- @template: T | version: 1 | start: a1 -->
<!-- @loop: a -->
<!-- @prompt: a1 | next: a_more -->
{{a1}}
<!-- @gate: a_more | yes: a1 | no: b1 -->
<!-- @end-loop: a -->
<!-- @loop: b -->
<!-- @prompt: b1 | next: b_more -->
{{b1}}
<!-- @gate: b_more | yes: b1 | no: fin -->
<!-- @end-loop: b -->
<!-- @prompt: fin | next: end -->
{{fin}}
<!-- @end -->
"""


@pytest.mark.req("REQ-INT-012")
def test_a_second_reopen_cannot_lose_the_first_return_point(clock):
    template = parse_template(TWO_LOOPS)
    source = engine.new_source("VR-X", None, "t", template)
    for value in ("a", "no", "b", "no"):
        engine.respond(template, source, value, author="claude", now=clock())
    assert source.cursor == "fin"
    engine.reopen(template, source, "a", reason="redo a", author="claude", now=clock())
    with pytest.raises(InvalidTransition, match="loop 'a' is reopened"):
        engine.reopen(template, source, "b", reason="redo b", author="claude", now=clock())
    assert source.loops["b"]["iterations"] == 1 and not source.loops["b"]["reopenings"]
    for value in ("a again", "no"):
        engine.respond(template, source, value, author="claude", now=clock())
    assert source.cursor == "fin" and source.cursor_context == {}
