"""The worker's run queue (``idp.core.admission.RunQueue``): at most ``slots`` requests run at once;
a sign-in is refused at once while a queue stands (every slot taken, and every request admitted for
``INTERVAL`` seconds waited longer than ``TARGET``), or when no slot came free within ``max_wait``;
every other request waits its turn. The clock is the test's: nothing sleeps."""

from __future__ import annotations

import threading

import pytest

from idp.core.admission import RunQueue


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return Clock()


def waiting_enter(queue, sheddable=False):
    """``queue.enter`` on another thread (it may block); the thread and where its answer lands."""
    answer = {}
    thread = threading.Thread(target=lambda: answer.setdefault("admitted", queue.enter(sheddable)))
    thread.start()
    return thread, answer


def wait_until_blocked(queue, thread):
    """``thread`` is waiting for a slot."""
    for _ in range(1000):
        if queue.waiting:
            return
        thread.join(0.005)
    raise AssertionError("the request never waited")


def test_requests_run_up_to_the_slots_and_a_sign_in_is_then_refused_without_waiting(clock):
    queue = RunQueue(slots=2, max_wait=0, monotonic=clock)
    assert queue.enter(sheddable=True) and queue.enter()
    assert queue.running == 2
    assert queue.enter(sheddable=True) is False  # no slot, no wait allowed: told to come back
    queue.leave()
    assert queue.enter(sheddable=True)  # a slot came back


def test_other_requests_wait_for_a_slot_however_long_it_takes(clock):
    queue = RunQueue(slots=1, max_wait=0, monotonic=clock)
    assert queue.enter()
    thread, answer = waiting_enter(queue)
    wait_until_blocked(queue, thread)
    clock.t += 30
    queue.leave()
    thread.join(5)
    assert answer == {"admitted": True} and queue.running == 1


def standing_queue(clock):
    """A queue of one slot in which the last request admitted waited 0.2 s and that slot is taken again."""
    queue = RunQueue(slots=1, max_wait=5, monotonic=clock)
    assert queue.enter()
    thread, answer = waiting_enter(queue)
    wait_until_blocked(queue, thread)
    clock.t += 0.2  # longer than TARGET
    queue.leave()
    thread.join(5)
    assert answer == {"admitted": True}
    return queue


def test_a_queue_stands_when_every_admitted_request_waited_longer_than_the_target_for_an_interval(clock):
    queue = standing_queue(clock)
    assert not queue.standing()  # 0.2 s of waiting: still a burst
    clock.t += RunQueue.INTERVAL
    assert queue.standing()
    assert queue.enter(sheddable=True) is False  # refused at once, not after max_wait (5 s)
    thread, answer = waiting_enter(queue)  # a token request still waits for its turn
    wait_until_blocked(queue, thread)
    queue.leave()
    thread.join(5)
    assert answer == {"admitted": True}


def test_a_request_admitted_without_waiting_ends_the_standing_queue(clock):
    queue = standing_queue(clock)
    clock.t += RunQueue.INTERVAL
    queue.leave()
    assert not queue.standing()  # a free slot: nothing stands, whatever the last wait was
    assert queue.enter(sheddable=True)  # admitted at once
    clock.t += 10
    assert not queue.standing()  # its wait (none) reset the measure, though every slot is taken again


def test_the_come_back_hint_is_the_wait_in_whole_seconds():
    assert RunQueue(slots=1, max_wait=3.0).retry_after == 3
    assert RunQueue(slots=1, max_wait=0).retry_after == 1
