"""The inbound sequence-number window that refuses replayed replies (issue 9, item 1)."""

from ironic_scale.ipmi.replay import WINDOW, SequenceWindow


def test_each_number_is_taken_once():
    window = SequenceWindow()
    assert [window.accept(n) for n in (1, 2, 3)] == [True, True, True]
    assert [window.accept(n) for n in (1, 2, 3)] == [False, False, False]


def test_zero_is_never_a_sequence_number():
    assert SequenceWindow().accept(0) is False


def test_late_numbers_inside_the_window_are_taken_once():
    window = SequenceWindow()
    assert window.accept(100)
    assert window.accept(90)  # reordered, still fresh
    assert not window.accept(90)
    assert window.accept(100 - WINDOW + 1)
    assert not window.accept(100 - WINDOW)  # too old to tell from a replay


def test_a_jump_forward_forgets_what_falls_out_of_the_window():
    window = SequenceWindow()
    for n in range(1, 11):
        assert window.accept(n)
    assert window.accept(10 + WINDOW + 5)
    assert not window.accept(10)


def test_numbers_wrap_around():
    window = SequenceWindow()
    assert window.accept(0xFFFFFFFE)
    assert window.accept(0xFFFFFFFF)
    assert window.accept(1)
    assert not window.accept(0xFFFFFFFE)
    assert window.accept(2)
