"""The worker's run queue (``idp.core.admission.RunQueue``): at most ``slots`` requests run at once,
the others wait first come, first served; a sign-in is refused at once when it holds the worker's
last thread (the worker receives more than it serves), or when no slot came free within ``max_wait``;
every other request waits its turn, however long."""

from __future__ import annotations

import threading

import pytest

from idp.core.admission import AdmissionGate, RunQueue
from idp.core.errors import Busy


def enter_on_a_thread(queue, sheddable=False):
    """``queue.enter`` on another thread, once it waits for a slot; the thread and where its answer lands."""
    answer = {}
    waiting = queue.waiting
    thread = threading.Thread(target=lambda: answer.setdefault("admitted", queue.enter(sheddable)))
    thread.start()
    for _ in range(1000):
        if queue.waiting > waiting:
            return thread, answer
        thread.join(0.005)
    raise AssertionError("the request never waited")


def test_requests_run_up_to_the_slots_and_a_sign_in_is_then_refused_when_it_may_not_wait():
    queue = RunQueue(slots=2, threads=8, max_wait=0)
    assert queue.enter(sheddable=True) and queue.enter()
    assert queue.running == 2
    assert queue.enter(sheddable=True) is False  # no slot, no wait allowed: told to come back
    queue.leave()
    assert queue.enter(sheddable=True)  # a slot came back


def test_other_requests_wait_for_a_slot_however_long_it_takes_and_in_order():
    queue = RunQueue(slots=1, threads=8, max_wait=0)
    assert queue.enter()
    order = []
    first, _ = enter_on_a_thread(queue)
    second, _ = enter_on_a_thread(queue)
    first_done = threading.Thread(target=lambda: (first.join(5), order.append("first")))
    second_done = threading.Thread(target=lambda: (second.join(5), order.append("second")))
    first_done.start(), second_done.start()
    queue.leave()  # the oldest waiter gets the slot
    first_done.join(5)
    assert order == ["first"] and second.is_alive()
    queue.leave()
    second_done.join(5)
    assert order == ["first", "second"] and queue.running == 1 and queue.waiting == 0


def test_a_sign_in_waits_for_a_slot_while_the_worker_has_threads_left():
    queue = RunQueue(slots=1, threads=4, max_wait=5)
    assert queue.enter()
    thread, answer = enter_on_a_thread(queue, sheddable=True)  # the 2nd of 4 threads: it waits
    queue.leave()
    thread.join(5)
    assert answer == {"admitted": True}


def test_a_sign_in_holding_the_workers_last_thread_is_refused_at_once():
    queue = RunQueue(slots=1, threads=4, max_wait=30)
    assert queue.enter()
    waiters = [enter_on_a_thread(queue) for _ in range(2)]  # threads 2 and 3 wait for the slot
    assert queue.enter(sheddable=True) is False  # the 4th: refused now, not after 30 s
    for _ in waiters:
        queue.leave()
    for thread, answer in waiters:
        thread.join(5)
        assert answer == {"admitted": True}
    assert queue.running == 1  # the last waiter holds the slot; the refused sign-in took nothing
    queue.leave()
    assert queue.enter(sheddable=True)  # threads to spare again: admitted


def test_a_sign_in_refused_by_the_queue_is_told_the_wait_in_whole_seconds():
    """What the run queue refused, the sign-in gate refuses at once (``AdmissionGate.closed``)."""
    for max_wait, retry_after in ((3.0, 3), (2.5, 3), (0, 1)):
        with pytest.raises(Busy) as busy, AdmissionGate(concurrency=1, max_wait=max_wait).closed().admit():
            pass
        assert busy.value.retry_after == retry_after
