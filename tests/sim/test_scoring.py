"""Scoring on small hand-built inputs: recall, delay, false alarms, flapping."""

from vigie.sim.records import Episode
from vigie.sim.scoring import Alarm, ScenarioFacts, score

FACTS = ScenarioFacts(devices=4, start=0, end=2 * 86_400)  # 8 device-days


def raised(t: int, kind: str = "alert", case: str = "C1") -> Alarm:
    return Alarm(t, case, kind, "raised", "B1")


def cleared(t: int, kind: str = "alert", case: str = "C1") -> Alarm:
    return Alarm(t, case, kind, "cleared", "B1")


def episode(start: int, end: int, kind: str = "alert", case: str = "C1") -> Episode:
    return Episode(case, kind, "B1", start, end)


def test_caught_during_the_episode_with_its_delay() -> None:
    result = score([raised(1_030), cleared(2_000)], [episode(1_000, 1_900)], FACTS)
    k = result.kinds["alert"]
    assert (k.episodes, k.caught, k.delays, k.false_alarms) == (1, 1, [30], 0)
    assert result.recall("alert") == 1.0


def test_a_short_episode_is_caught_within_the_tolerance_not_after() -> None:
    truth = [episode(1_000, 1_010), episode(5_000, 5_010)]
    alarms = [raised(1_500), cleared(1_600), raised(5_700)]
    result = score(alarms, truth, FACTS, tolerance_s=600)
    k = result.kinds["alert"]
    assert (k.episodes, k.caught) == (2, 1)
    assert k.false_alarms == 1  # the raise at 5,700 is too late to count for 5,000
    assert [e.start for e in result.missed] == [5_000]


def test_other_case_or_kind_does_not_match() -> None:
    result = score(
        [raised(1_010, case="C2"), raised(1_010, kind="pre_alert")], [episode(1_000, 2_000)], FACTS
    )
    assert result.kinds["alert"].caught == 0
    assert result.false_alarms == 2


def test_an_alarm_still_raised_covers_the_next_episode() -> None:
    alarms = [raised(1_000), cleared(9_000)]
    truth = [episode(1_000, 2_000), episode(3_000, 4_000)]
    k = score(alarms, truth, FACTS).kinds["alert"]
    assert (k.caught, k.delays) == (2, [0, 0])


def test_a_stale_false_alarm_does_not_cover_a_later_episode() -> None:
    k = score([raised(100)], [episode(5_000, 6_000)], FACTS).kinds["alert"]
    assert (k.caught, k.false_alarms) == (0, 1)


def test_early_raise_within_early_tolerance_counts() -> None:
    k = score([raised(950)], [episode(1_000, 2_000)], FACTS, early_s=120).kinds["alert"]
    assert k.caught == 1 and k.delays == [0]
    k = score([raised(800)], [episode(1_000, 2_000)], FACTS, early_s=120).kinds["alert"]
    assert k.caught == 0 and k.false_alarms == 1


def test_flapping_and_false_alarms_per_device_day() -> None:
    alarms = [raised(100), cleared(130), raised(200), cleared(400), raised(500), cleared(540)]
    result = score(alarms, [], FACTS, flap_s=60)
    assert result.flaps == 2
    assert result.false_alarms == 3
    assert result.to_dict()["false_alarms_per_device_day"] == 3 / 8


def test_an_uncaught_episode_at_the_very_end_is_undecided() -> None:
    end = FACTS.end
    k = score([], [episode(end - 100, end)], FACTS, tolerance_s=600).kinds["alert"]
    assert (k.episodes, k.undecided, k.recall) == (0, 1, None)


def test_facts_read_from_a_scenario() -> None:
    lines = [
        '{"kind":"placement","case":"C1","measure":"bar","wearer":"B1","protected":"P1"}',
        '{"kind":"placement","case":"C2","measure":"ddse","wearer":"B2","home_unit":"H2"}',
        '{"kind":"tick","t":"2026-11-23T00:00:00Z"}',
        '{"kind":"obs","device":"B1","t":"2026-11-24T12:00:00Z","type":"battery","level":0.5}',
    ]
    facts = ScenarioFacts.read(lines)
    assert facts.devices == 4
    assert facts.end - facts.start == 36 * 3_600
    assert facts.device_days == 4 * 1.5
