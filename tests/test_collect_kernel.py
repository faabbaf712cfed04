"""The collection kernel on small points whose every time is worked out by hand.

Notation: r0, r1, ... are residents in line order; s0, s1 stations; "free" is
the moment a station can take its next resident. Tubes come back ordered by seal
time (ties by the order they were opened).
"""

from __future__ import annotations

import numpy as np

from sim.model.calendars import breaks_calendar
from sim.model.collect import PointOutcome, collect

NO_BREAKS_1 = np.full((1, 1), np.nan)
NO_BREAKS_2 = np.full((2, 1), np.nan)


def run(
    arrivals: list[float],
    service: float | list[float],
    stations: int = 1,
    close: float = 3600.0,
    pool: int = 10,
    tube_change: float | list[list[float]] = 60.0,
    breaks: list[list[float]] | None = None,
    break_length: float = 0.0,
    open_t: float = 0.0,
) -> PointOutcome:
    a = np.array(arrivals, dtype=float)
    s = np.broadcast_to(np.asarray(service, dtype=float), a.shape).copy()
    if isinstance(tube_change, list):
        tc = np.array(tube_change, dtype=float)
    else:
        tc = np.full((stations, a.size // pool + 2), float(tube_change))
    b = np.full((stations, 1), np.nan) if breaks is None else np.array(breaks, dtype=float)
    return collect(a, s, stations, open_t, close, pool, tc, breaks_calendar(b, break_length))


def test_one_station_no_waiting() -> None:
    # 25 residents every 90 s, 30 s swab, pool 10, tube change 60 s, close 3600.
    # r_i arrives 90i; the station is always free by then (r_i ends 90i + 30, a
    # seal after r9 ends 840 + 60 = 900 = r10's arrival), so nobody waits.
    # Tube 0: r0..r9, first 0, last end 810 + 30 = 840, sealed 900.
    # Tube 1: r10..r19, first 900, last end 1740, sealed 1800.
    # Tube 2: r20..r24 (part-filled), first 1800, last end 2160 + 30 = 2190,
    #         sealed at closing: max(2190, 3600) + 60 = 3660.
    out = run([90.0 * i for i in range(25)], 30.0)
    assert out.swab_start.tolist() == [90.0 * i for i in range(25)]
    assert out.tube_sealed.tolist() == [900.0, 1800.0, 3660.0]
    assert out.tube_first.tolist() == [0.0, 900.0, 1800.0]
    assert out.tube_arrival.tolist() == out.tube_first.tolist()  # nobody waited
    assert out.tube_last.tolist() == [840.0, 1740.0, 2190.0]
    assert out.tube_size.tolist() == [10, 10, 5]
    assert out.tube.tolist() == [0] * 10 + [1] * 10 + [2] * 5


def test_one_station_tube_change_builds_a_line() -> None:
    # 30 residents every 30 s, 30 s swab, pool 10, tube change 60 s.
    # Tube k holds r_{10k}..r_{10k+9}; they are swabbed back to back from 360k
    # (the station reopens 60 s after each 300 s of swabbing), so
    # start(r_i) = 360 (i // 10) + 30 (i % 10), wait = 60 (i // 10);
    # tube k is sealed at 360k + 300 + 60 = 360 (k + 1): 360, 720, 1080 (full, so
    # the last seal does not wait for closing at 1000).
    out = run([30.0 * i for i in range(30)], 30.0, close=1000.0)
    expected = [360.0 * (i // 10) + 30.0 * (i % 10) for i in range(30)]
    assert out.swab_start.tolist() == expected
    assert (out.swab_start - out.arrivals).tolist() == [60.0 * (i // 10) for i in range(30)]
    assert out.tube_sealed.tolist() == [360.0, 720.0, 1080.0]
    assert out.tube_size.tolist() == [10, 10, 10]
    # a tube's first resident, r_{10k}, came at 300k and waited 60k in line
    assert out.tube_arrival.tolist() == [0.0, 300.0, 600.0]
    assert (out.tube_first - out.tube_arrival).tolist() == [0.0, 60.0, 120.0]


def test_two_stations_simultaneous_arrivals_and_the_tie_rule() -> None:
    # 2 stations, four residents all at t = 0, 10 s swab, pool 2, tube change 5.
    # r0: both free at 0 -> tie -> s0 (lowest number), 0..10.
    # r1: s1 free at 0 < s0's 10 -> s1, 0..10.
    # r2: both free at 10 -> tie -> s0, 10..20; s0's tube is full: sealed 25.
    # r3: s1 (free 10 < s0's 25), 10..20; sealed 25.
    # Both tubes sealed at 25: s0's tube was opened first, so it comes first.
    out = run([0.0] * 4, 10.0, stations=2, pool=2, tube_change=5.0)
    assert out.station.tolist() == [0, 1, 0, 1]
    assert out.swab_start.tolist() == [0.0, 0.0, 10.0, 10.0]
    assert out.tube_sealed.tolist() == [25.0, 25.0]
    assert out.tube_station.tolist() == [0, 1]
    assert out.tube.tolist() == [0, 1, 0, 1]


def test_the_station_free_longest_takes_the_next_resident() -> None:
    # 2 stations; r0, r1 at 0 with swabs 5 and 3; r2 at 10 with swab 1; pool 10;
    # tube change 7 at s0 and 9 at s1; close 20.
    # r0 -> s0 0..5, r1 -> s1 0..3. At 10 both are idle; s1 has been free since 3,
    # s0 since 5, so r2 -> s1, 10..11.
    # Closing: s0's tube (r0) is sealed at max(5, 20) + 7 = 27,
    #          s1's tube (r1, r2) at max(11, 20) + 9 = 29.
    out = run([0.0, 0.0, 10.0], [5.0, 3.0, 1.0], stations=2, close=20.0,
              tube_change=[[7.0, 7.0], [9.0, 9.0]])  # fmt: skip
    assert out.station.tolist() == [0, 1, 1]
    assert out.swab_start.tolist() == [0.0, 0.0, 10.0]
    assert out.tube_sealed.tolist() == [27.0, 29.0]
    assert out.tube_station.tolist() == [0, 1]
    assert out.tube_size.tolist() == [1, 2]
    assert out.tube_last.tolist() == [5.0, 11.0]


def test_break_falling_due_while_the_station_is_busy() -> None:
    # 1 station, break nominally at 100 for 50 s; r0 at 90 and r1 at 95, 30 s swabs;
    # close 300, tube change 60.
    # r0 90..120 (the break falls due at 100 while the station is busy).
    # At 120 the break has come, so it is taken before r1: 120..170; r1 170..200.
    # Closing: the part-filled tube is sealed at max(200, 300) + 60 = 360.
    out = run([90.0, 95.0], 30.0, close=300.0, breaks=[[100.0]], break_length=50.0)
    assert out.swab_start.tolist() == [90.0, 170.0]
    assert out.tube_sealed.tolist() == [360.0]


def test_break_falling_due_while_the_station_is_idle() -> None:
    # 1 station, break nominally at 100 for 50 s; residents at 10, 120 and 200,
    # 30 s swabs, close 300, tube change 60.
    # r0 10..40. The station is idle at 100 and leaves on time: 100..150.
    # r1 arrives during the break and waits: 150..180. r2 200..230.
    # Closing: max(230, 300) + 60 = 360.
    out = run([10.0, 120.0, 200.0], 30.0, close=300.0, breaks=[[100.0]], break_length=50.0)
    assert out.swab_start.tolist() == [10.0, 150.0, 200.0]
    assert out.tube_sealed.tolist() == [360.0]


def test_a_station_on_break_is_passed_over() -> None:
    # 2 stations; s0 has a break at 50 for 100 s, s1 none. r0, r1 at 0 with
    # swabs 5 and 20; r2 at 60 with swab 5. Close 200, tube change 10.
    # r0 -> s0 0..5; r1 -> s1 0..20. At 60 s0 has been idle longest (since 5),
    # but it left on break at 50 and is back only at 150; s1 is free (since 20),
    # so r2 -> s1 60..65.
    # Closing: s1's tube (r1, r2) at max(65, 200) + 10 = 210; s0's tube (r0)
    # at max(150, 200) + 10 = 210 too, s0's opened first so listed first.
    out = run([0.0, 0.0, 60.0], [5.0, 20.0, 5.0], stations=2, close=200.0, tube_change=10.0,
              breaks=[[50.0], [np.nan]], break_length=100.0)  # fmt: skip
    assert out.station.tolist() == [0, 1, 1]
    assert out.swab_start.tolist() == [0.0, 0.0, 60.0]
    assert out.tube_sealed.tolist() == [210.0, 210.0]
    assert out.tube_station.tolist() == [0, 1]


def test_residents_arriving_just_before_closing_are_served_after_it() -> None:
    # 2 stations, residents at 3590, 3595, 3599 with 30 s swabs, pool 10,
    # tube change 60 at s0 and 40 at s1, close 3600.
    # r0 -> s0 (both free since opening: tie) 3590..3620; r1 -> s1 3595..3625;
    # r2 -> s0 (free 3620 < 3625) 3620..3650, after closing.
    # Closing: s0's tube (r0, r2) at max(3650, 3600) + 60 = 3710;
    #          s1's tube (r1) at max(3625, 3600) + 40 = 3665, which comes first.
    out = run([3590.0, 3595.0, 3599.0], 30.0, stations=2,
              tube_change=[[60.0, 60.0], [40.0, 40.0]])  # fmt: skip
    assert out.station.tolist() == [0, 1, 0]
    assert out.swab_start.tolist() == [3590.0, 3595.0, 3620.0]
    assert out.tube_sealed.tolist() == [3665.0, 3710.0]
    assert out.tube_station.tolist() == [1, 0]
    assert out.tube_size.tolist() == [1, 2]
    assert out.tube.tolist() == [1, 0, 1]


def test_closing_takes_breaks_still_due_then_seals() -> None:
    # 1 station, break at 3500 for 300 s; one resident at 2970 with a 30 s swab
    # (ends 3000); close 3600, tube change 60.
    # Nobody else comes; the break is still due before closing, so it is taken
    # 3500..3800 and the tube is sealed at max(3800, 3600) + 60 = 3860.
    out = run([2970.0], 30.0, breaks=[[3500.0]], break_length=300.0)
    assert out.tube_sealed.tolist() == [3860.0]


def test_each_tube_has_its_own_change_time_and_residents_before_opening_wait() -> None:
    # 1 station opening at 100; three residents at 0, 50, 80 with 10 s swabs, pool 1;
    # the station's tube changes take 2, 3, 4 s (its 0th, 1st, 2nd tube).
    # r0 100..110, sealed 112; r1 112..122, sealed 125; r2 125..135, sealed 139.
    out = run([0.0, 50.0, 80.0], 10.0, pool=1, tube_change=[[2.0, 3.0, 4.0]], open_t=100.0)
    assert out.swab_start.tolist() == [100.0, 112.0, 125.0]
    assert out.tube_sealed.tolist() == [112.0, 125.0, 139.0]
    assert out.tube_first.tolist() == [100.0, 112.0, 125.0]
    assert out.tube_last.tolist() == [110.0, 122.0, 135.0]


def test_a_break_due_by_the_end_of_another_is_taken_next() -> None:
    # 1 station, breaks at 100 and 200 for 60 s; r0 at 0 with a 150 s swab, r1 at 50
    # with a 10 s swab; pool 10, no tube-change cost, close 1000.
    # r0 0..150. At 150 the break of 100 has come: 150..210. At 210 the break of
    # 200 has come too ("a break whose nominal time has come by the moment the
    # station would start its next resident is taken first"): 210..270. So r1
    # starts at 270.
    out = run([0.0, 50.0], [150.0, 10.0], close=1000.0, tube_change=0.0,
              breaks=[[100.0, 200.0]], break_length=60.0)  # fmt: skip
    assert out.swab_start.tolist() == [0.0, 270.0]


# -- closures (the `finish` rule of the station calendar) ---------------------------------
def closed(
    arrivals: list[float],
    service: float,
    closures: list[tuple[int, float, float]],
    stations: int = 1,
    close: float = 3600.0,
    breaks: list[list[float]] | None = None,
    break_length: float = 0.0,
) -> PointOutcome:
    """One point whose stations close (station, start, length) besides any breaks."""
    from sim.model.calendars import StationCalendar

    a = np.array(arrivals, dtype=float)
    s = np.full(a.size, float(service))
    tc = np.full((stations, a.size // 10 + 2), 60.0)
    rows: list[list[tuple[float, float, int]]] = [[] for _ in range(stations)]
    for j, row in enumerate(breaks or []):
        rows[j] += [(t, break_length, 0) for t in row]  # rule 0: a break
    for j, begin, length in closures:
        rows[j].append((begin, length, 1))  # rule 1: a closure
    width = max(1, max(len(r) for r in rows))
    start = np.full((stations, width), np.nan)
    length_ = np.zeros((stations, width))
    rule = np.zeros((stations, width), np.int8)
    for j, row in enumerate(rows):
        for m, (t, ln, r) in enumerate(sorted(row, key=lambda e: e[0])):
            start[j, m], length_[j, m], rule[j, m] = t, ln, r
    return collect(a, s, stations, 0.0, close, 10, tc, StationCalendar(start, length_, rule))


def test_a_closure_lets_the_swab_under_way_finish() -> None:
    # r0 0-80; r1 arrives 50, starts 80 (the closure at 100 is not due yet) and ends 160;
    # r2 arrives 100: the station closed at 100 while busy, finishes r1 at 160, seals the
    # part-filled tube (r0, r1) as it goes off duty, 160 + 60 = 220, and stays closed
    # until 300, so r2 is swabbed 300-380 into a new tube, sealed at closing: 3600 + 60.
    out = closed([0.0, 50.0, 100.0], 80.0, [(0, 100.0, 200.0)])
    assert out.swab_start.tolist() == [0.0, 80.0, 300.0]
    assert out.tube_sealed.tolist() == [220.0, 3660.0]
    assert out.tube_size.tolist() == [2, 1]


def test_a_closure_of_an_idle_station_and_one_already_over() -> None:
    # r0 0-30; the closure 100-300 passes while the station is idle: r1 at 150 waits
    # until 300; r2 at 500 is after the closure and starts at once.
    out = closed([0.0, 150.0, 500.0], 30.0, [(0, 100.0, 200.0)])
    assert out.swab_start.tolist() == [0.0, 300.0, 500.0]


def test_a_closure_of_one_station_sends_the_line_to_the_other() -> None:
    # two stations; station 1 is closed 0-1000. Residents at 0, 10, 20 (40 s each) all
    # go to station 0: 0-40, 40-80, 80-120; without the closure r1 would start at 10.
    out = closed([0.0, 10.0, 20.0], 40.0, [(1, 0.0, 1000.0)], stations=2)
    assert out.station.tolist() == [0, 0, 0]
    assert out.swab_start.tolist() == [0.0, 40.0, 80.0]
    open_both = closed([0.0, 10.0, 20.0], 40.0, [], stations=2)
    assert open_both.swab_start.tolist() == [0.0, 10.0, 40.0]


def test_a_closure_before_closing_seals_the_tube_as_it_starts() -> None:
    # r0 3300-3400; the station goes off duty 3500-3800 (after the swab), before closing
    # at 3600: its staff seal the part-filled tube as they leave, 3500 + 60. (Until
    # 2026-12-01 the tube waited for the closure's end, 3860: a station whose shift or
    # window ended before closing held its tube until the next morning.)
    out = closed([3300.0], 100.0, [(0, 3500.0, 300.0)])
    assert out.tube_sealed.tolist() == [3560.0]


def test_a_break_falling_inside_a_closure_is_taken_after_it() -> None:
    # a 20-minute break due at 200 and a closure 100-700: the break is due by the time
    # the closure ends, so it is taken straight after it: away until 700 + 1200 = 1900.
    out = closed([0.0, 150.0], 30.0, [(0, 100.0, 600.0)], breaks=[[200.0]], break_length=1200.0)
    assert out.swab_start.tolist() == [0.0, 1900.0]
