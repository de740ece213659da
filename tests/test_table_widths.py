"""How a table's long columns share the width the short ones leave
(ketamon.gui.tables.share_width): every column on screen, each elided only as
much as it must be."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ketamon.gui.tables import MIN_SHARED_PX, share_width


def test_all_fit_each_gets_its_text_and_the_first_the_rest():
    assert share_width({4: 200, 6: 150, 7: 120}, 600, first_extra=4) == {4: 330, 6: 150, 7: 120}


def test_a_short_column_keeps_its_width_and_the_long_ones_share_the_rest():
    # 400 px for three: the 90-px one keeps 90, the other two get 155 each
    assert share_width({4: 300, 6: 90, 7: 260}, 400) == {4: 155, 6: 90, 7: 155}


@given(st.dictionaries(st.integers(0, 9), st.integers(1, 800), min_size=1, max_size=6),
       st.integers(0, 3000))
def test_never_wider_than_the_room_unless_at_the_least_width(wanted, room):
    widths = share_width(wanted, room, first_extra=min(wanted))
    assert set(widths) == set(wanted)
    if sum(wanted.values()) <= room:
        assert sum(widths.values()) == room
        assert all(widths[c] >= wanted[c] for c in wanted)
    else:
        assert all(w >= min(MIN_SHARED_PX, wanted[c]) for c, w in widths.items())
        assert all(widths[c] <= wanted[c] for c in wanted)
        if all(w > MIN_SHARED_PX for w in widths.values()):
            assert sum(widths.values()) <= room
            assert room - sum(widths.values()) < len(wanted)  # the room is used, to rounding
