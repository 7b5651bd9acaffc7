"""The runner over step kinds (pure logic, no server): it names no kind; the kinds' declarations
decide chains, phases and order; every check runs before any step acts; a failed chain stops only
itself and no later phase starts; steps on one ARM resource hold one lock.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from entra_bootstrap.engine import Change, StepKind, run
from entra_bootstrap.engine.runner import build
from entra_bootstrap.steps.registry import KINDS, labels


class FakeStep:
    def __init__(self, name: str, log: list, *, fail: bool = False, target_key=None, pause: float = 0):
        self.kind = "fake"
        self.name = name
        self.log = log
        self.fail = fail
        self.target_key = target_key
        self.pause = pause

    async def plan(self, session):
        self.log.append(("plan", self.name))
        await asyncio.sleep(self.pause)
        if self.fail:
            raise RuntimeError(f"{self.name} failed")
        return [Change("fake", self.name, "create")]

    async def apply(self, session, changes):
        self.log.append(("apply", self.name))
        await asyncio.sleep(self.pause)
        for c in changes:
            c.applied = True
        return changes


def kind(name: str, items, *, phase=1, down_phase=1, check=None) -> StepKind:
    """A kind whose steps are ``items``: (order, chain, step-name, step-options)."""
    def steps(spec, ctx):
        for order, chain, step_name, kw in items:
            yield order, chain, FakeStep(f"{step_name}{'' if ctx.present else '-'}", spec.log, **kw)
    return StepKind(name, section=name, steps=steps, phase=phase, down_phase=down_phase, check=check)


def spec() -> SimpleNamespace:
    return SimpleNamespace(log=[])


def names(phases) -> list[list[tuple[str, list[str]]]]:
    return [[(c.label, [s.name for s in c.steps]) for c in phase] for phase in phases]


A = kind("a", [((1, 0), "app x", "app-x", {}), ((1, 1), "app y", "app-y", {})], down_phase=2)
B = kind("b", [((1, 0), "app x", "sp-x", {}), ((1, 1), "app y", "sp-y", {})], down_phase=2)
I = kind("i", [((0, 0), "identity m", "mi-m", {})], down_phase=3)
L = kind("l", [((2, 1), "app y links", "fic-y", {}), ((2, 0), "app x links", "fic-x", {})],
         phase=2, down_phase=1)


def test_chains_follow_the_kinds_order_and_the_declared_order():
    s = spec()
    assert names(build(s, [I, A, B, L])) == [
        [("identity m", ["mi-m"]), ("app x", ["app-x", "sp-x"]), ("app y", ["app-y", "sp-y"])],
        [("app x links", ["fic-x"]), ("app y links", ["fic-y"])]]


def test_down_reverses_the_kinds_and_runs_by_down_phase():
    assert names(build(spec(), [I, A, B, L], destroy=True)) == [
        [("app x links", ["fic-x-"]), ("app y links", ["fic-y-"])],
        [("app x", ["sp-x-", "app-x-"]), ("app y", ["sp-y-", "app-y-"])],
        [("identity m", ["mi-m-"])]]


def test_every_check_runs_before_any_step_and_a_failed_check_stops_all():
    s = spec()

    async def ok(spec_, session):
        spec_.log.append(("check", "ok"))

    async def refuse(spec_, session):
        spec_.log.append(("check", "refuse"))
        raise ValueError("refused")

    kinds = [kind("a", [((1, 0), "app x", "app-x", {})], check=ok),
             kind("b", [((1, 0), "app x", "sp-x", {})], check=refuse)]
    outcome = asyncio.run(run(s, None, kinds, plan=False))
    assert str(outcome.error) == "refused" and outcome.changes == []
    assert s.log == [("check", "ok"), ("check", "refuse")]          # no plan, no apply


def test_a_failed_chain_stops_itself_the_others_finish_and_no_later_phase_starts():
    s = spec()
    kinds = [kind("a", [((1, 0), "app x", "app-x", {"fail": True}), ((1, 1), "app y", "app-y", {})]),
             kind("b", [((1, 0), "app x", "sp-x", {}), ((1, 1), "app y", "sp-y", {})]),
             kind("l", [((2, 0), "app x links", "fic-x", {})], phase=2)]
    outcome = asyncio.run(run(s, None, kinds, plan=False))
    assert str(outcome.error) == "app-x failed"
    assert [c.name for c in outcome.changes] == ["app-y", "sp-y"]
    assert ("plan", "sp-x") not in s.log and ("plan", "fic-x") not in s.log


def test_plan_never_applies():
    s = spec()
    outcome = asyncio.run(run(s, None, [A, B], plan=True))
    assert outcome.pending and not [e for e in s.log if e[0] == "apply"]


def test_steps_on_one_resource_run_one_after_the_other():
    s = spec()
    key = ("vm", "rg", "myvm")
    kinds = [kind("t", [((0, 0), "identity a", "attach-a", {"target_key": key, "pause": 0.02}),
                        ((0, 1), "identity b", "attach-b", {"target_key": key, "pause": 0.02}),
                        ((0, 2), "identity c", "other", {"pause": 0.02})])]
    asyncio.run(run(s, None, kinds, plan=False))
    a = [e for e in s.log if e[1] in ("attach-a", "attach-b")]
    # one attachment's plan and apply complete before the other's start
    assert a in ([("plan", "attach-a"), ("apply", "attach-a"), ("plan", "attach-b"), ("apply", "attach-b")],
                 [("plan", "attach-b"), ("apply", "attach-b"), ("plan", "attach-a"), ("apply", "attach-a")])


@pytest.mark.parametrize("step_kind", KINDS, ids=lambda k: k.name)
def test_every_registered_kind_declares_what_the_engine_and_verify_need(step_kind):
    assert step_kind.section and step_kind.labels and step_kind.needs
    assert step_kind.phase in (1, 2) and step_kind.down_phase in (1, 2, 3)


def test_verify_names_every_change_kind_a_registered_step_reports():
    assert labels() == {
        "userAssignedIdentity": "identity exists", "vmIdentity": "identity attached",
        "vmssIdentity": "identity attached", "containerGroupIdentity": "identity attached",
        "application": "app exists", "servicePrincipal": "service principal exists",
        "permission": "permission requested", "appRoleAssignment": "permission consented",
        "oauth2PermissionGrant": "delegated permission consented", "owner": "owner",
        "federatedIdentityCredential": "federated credential",
        "identityAppRoleAssignment": "identity permission granted", "roleAssignment": "role assigned",
        "passwordCredential": "password credential", "keyCredential": "certificate credential"}


# --- a kind that brings keys of its own to the file (StepKind.file_section) -------------------------
def test_a_kind_s_file_section_is_read_checked_and_handed_to_its_steps():
    from entra_bootstrap.spec import Section, SpecError, parse_spec
    from entra_bootstrap.spec.rules import RuleError

    def check(entry):
        if entry.get("scope", "").startswith("tenant"):
            yield "scope", RuleError("BadScope", f"'{entry['scope']}' is not a scope", "use subscription")

    section = Section("identity", "role_assignment", {"role": "str", "scope": "str"}, required=("role",),
                      check=check)
    made = []

    def steps(spec_, ctx):
        for i, ident in enumerate(spec_.identities):
            for entry in ident.part("role_assignment"):
                made.append((ident.name, entry["role"], entry.get("scope")))
                yield (0, i), f"identity {ident.name}", FakeStep(entry["role"], [])

    kind_ = StepKind("roleAssignment", section="identity.role_assignment", steps=steps, file_section=section)
    text = ('[[identity]]\nname = "mi-one"\nresource_group = "rg"\n'
            '[[identity.role_assignment]]\nrole = "Reader"\nscope = "subscription"\n')
    spec_ = parse_spec(text, "f.toml", sections=[kind_.file_section])
    assert spec_.identities[0].part("role_assignment") == ({"role": "Reader", "scope": "subscription"},)
    assert names(build(spec_, [kind_])) == [[("identity mi-one", ["Reader"])]]
    assert made == [("mi-one", "Reader", "subscription")]

    bad = text.replace('scope = "subscription"', 'scope = "tenant"\nrol = "x"')
    with pytest.raises(SpecError) as refused:
        parse_spec(bad, "f.toml", sections=[section])
    found = {(p.line, p.key, p.code) for p in refused.value.problems}
    assert found == {(6, "identity[0].role_assignment[0].scope", "BadScope"),
                     (7, "identity[0].role_assignment[0].rol", "UnknownKey")}
    with pytest.raises(SpecError) as undeclared:          # no kind declares it: an unknown key
        parse_spec(text, "f.toml")
    assert [p.code for p in undeclared.value.problems] == ["UnknownKey"]
