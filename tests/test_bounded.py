"""The bounded map every per-conversation memory is kept in: its cap, and the two rules that move an entry."""

from __future__ import annotations

from assistant.ground.bounded import Bounded


def filled(**rules: bool) -> Bounded[str, int]:
    found: Bounded[str, int] = Bounded(3, **rules)
    for i, key in enumerate("abc"):
        found.put(key, i)
    return found


def test_bounded_put_past_the_size_drops_the_first_in_order() -> None:
    found = filled()
    found.put("d", 3)
    assert list(found.items()) == [("b", 1), ("c", 2), ("d", 3)]
    assert found.size == 3


def test_bounded_of_size_zero_keeps_nothing() -> None:
    found: Bounded[str, int] = Bounded(0, on_read=True, on_write=True)
    found.put("a", 1)
    assert dict(found) == {}


def test_bounded_put_of_a_key_held_keeps_its_place_without_on_write() -> None:
    found = filled()
    found.put("a", 9)
    found.put("d", 3)
    assert list(found.items()) == [("b", 1), ("c", 2), ("d", 3)]


def test_bounded_put_of_a_key_held_moves_it_last_with_on_write() -> None:
    found = filled(on_write=True)
    found.put("a", 9)
    found.put("d", 3)
    assert list(found.items()) == [("c", 2), ("a", 9), ("d", 3)]


def test_bounded_get_moves_nothing_without_on_read() -> None:
    found = filled(on_write=True)
    assert found.get("a") == 0
    found.put("d", 3)
    assert list(found) == ["b", "c", "d"]


def test_bounded_get_moves_the_key_found_last_with_on_read() -> None:
    found = filled(on_read=True)
    assert found.get("a") == 0
    found.put("d", 3)
    assert list(found) == ["c", "a", "d"]


def test_bounded_get_of_a_key_not_held_gives_the_default_and_adds_nothing() -> None:
    found = filled(on_read=True)
    assert found.get("x") is None
    assert found.get("x", -1) == -1
    assert list(found) == ["a", "b", "c"]


def test_bounded_plain_reads_move_nothing_even_with_on_read() -> None:
    found = filled(on_read=True, on_write=True)
    assert "a" in found and found["a"] == 0
    assert found.pop("b") == 1
    found.put("d", 3)
    found.put("e", 4)
    assert list(found) == ["c", "d", "e"]
