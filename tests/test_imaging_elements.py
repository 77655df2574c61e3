"""Outlines that frame elements on a photo page (``strata.imaging.elements.framed``)."""

import cv2
import numpy as np

from strata.imaging.elements import (
    Element,
    absorb_fragments,
    absorb_halos,
    classify,
    framed,
    join_words,
    outlines,
    rejoin_pieces,
    sharp_edges,
)


def outline_of(mask: np.ndarray) -> np.ndarray:
    """The one-pixel step edges of a filled mask drawn on a flat grey image."""
    image = np.full((*mask.shape, 3), 0.5, np.float32)
    image[mask] = (0.9, 0.2, 0.1)
    return sharp_edges(image, 0.08)


def disc(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, centre[::-1], radius, 1, -1)
    return mask.astype(bool)


def test_a_closed_outline_frames_its_inside_and_a_counter_stays_open() -> None:
    card = np.zeros((200, 300), bool)
    card[40:160, 60:240] = True
    ring = disc((200, 300), (100, 30), 14) & ~disc((200, 300), (100, 30), 7)  # an "o": thick stroke
    found = framed(outline_of(card | ring), kernel=5, min_area=200)
    assert found[50:150, 70:230].all()
    assert not found[100, 30] and not found[5, 5]


def test_the_canvas_edge_closes_a_cut_circle_but_not_the_page_along_it() -> None:
    circle = disc((200, 300), (100, 290), 40)  # cut by the right edge
    bar = np.zeros((200, 300), bool)
    bar[170:185, :] = True  # a band across the canvas: the page below it is cut off from the rest
    found = framed(outline_of(circle | bar), kernel=5, min_area=200)
    assert found[100, 275:299].all()
    assert not found[190:, :].any() and not found[20, 20]


def test_a_step_blurred_over_two_pixels_is_an_outline_one_pixel_wide() -> None:
    image = np.full((20, 40, 3), 0.5, np.float32)
    image[:, 20:] = 0.62  # a sharp step of 0.12: marked on its right side
    image[:, 30] = 0.68  # a step of 0.12 spread over two pixels (0.06 each): marked at its middle
    image[:, 31:] = 0.74
    image[:, 35:] = 0.77  # a smooth ramp: nothing
    image[:, 37:] = 0.80
    columns = np.flatnonzero(sharp_edges(image, 0.08).all(axis=0))
    assert columns.tolist() == [20, 30]


def test_a_card_holding_text_and_a_photo_is_framed_by_its_rim() -> None:
    # Its contents make more outline inside its box than its rim does; a counter still stays open.
    card = np.zeros((200, 300), bool)
    card[30:170, 40:260] = True
    image = np.full((200, 300, 3), 0.5, np.float32)
    image[card] = (0.9, 0.9, 0.7)
    image[45:100, 60:240] = (0.2, 0.4, 0.8)  # a photo on the card
    for x in range(60, 240, 8):
        image[115:155, x : x + 3] = 0.1  # lines of text
    ring = disc((200, 300), (100, 285), 10) & ~disc((200, 300), (100, 285), 4)
    image[ring] = 0.1
    found = framed(sharp_edges(image, 0.08), kernel=9, min_area=200)
    assert found[32:168, 42:258].all()
    assert not found[100, 285]


def test_a_card_whose_colour_the_photo_matches_in_places_is_framed_along_its_straight_sides() -> None:
    # The page waves through the card's grey along its top and bottom sides: every 45 pixels the side
    # shows no step for 9 pixels, more than the closing bridges. Its straight runs still frame it,
    # while a line of letters (tops and baselines in rows, on the photo) frames nothing of the page.
    height, width = 400, 600
    xs = np.arange(width, dtype=np.float32)
    page = np.broadcast_to((0.55 + 0.25 * np.sin(2 * np.pi * xs / 90))[None, :, None], (height, width, 3))
    image = page.copy()
    card = np.zeros((height, width), bool)
    card[100:260, 110:505] = True
    image[card] = 0.55
    for x in range(110, 500, 22):
        image[320:350, x : x + 12] = 0.05  # a line of letters below the card
    assert not framed(sharp_edges(image, 0.08), kernel=7, min_area=700)[card].any()
    found = framed(outlines(image, 0.08, gap=21), kernel=7, min_area=700)
    assert found[card].all()
    rim = np.zeros_like(card)
    rim[98:262, 108:507] = True  # the card with the outline around it
    assert not found[~rim].any()


def test_outlines_are_found_alike_along_rows_and_columns() -> None:
    # The card above, turned a quarter: its straight sides are now columns, found on the transposed
    # step map from the same (untransposed) pixels; the outlines turn with the image, exactly.
    xs = np.arange(600, dtype=np.float32)
    image = np.repeat((0.55 + 0.25 * np.sin(2 * np.pi * xs / 90))[None, :, None], 400, 0).repeat(3, 2)
    image[100:260, 110:505] = 0.55
    image[320:350, 40:60] = (0.9, 0.3, 0.1)
    turned = np.ascontiguousarray(image.transpose(1, 0, 2))
    found = outlines(image, 0.08, gap=21)
    assert found.sum() > sharp_edges(image, 0.08).sum()  # some sides were continued
    assert np.array_equal(outlines(turned, 0.08, gap=21), found.T)
    assert np.array_equal(sharp_edges(turned, 0.08), sharp_edges(image, 0.08).T)


def _element(top: int, left: int, alpha: np.ndarray, root: int) -> Element:
    colour = np.full((*alpha.shape, 3), root / 10, np.float32)
    return Element(top, left, alpha.astype(np.float32), colour, 1, "shape", root)


def test_a_disc_with_specks_is_a_shape_and_a_line_of_letters_is_text() -> None:
    # The disc's crop is the box of its group, which held an outline around it: it fills half of it.
    mask = disc((260, 260), (130, 130), 106)
    for y, x in ((2, 2), (2, 255), (255, 2)):
        mask[y : y + 2, x : x + 2] = True  # specks of ringing
    assert classify(mask, canvas_height=500) == "shape"
    line = np.zeros((40, 200), bool)
    for x in range(0, 200, 25):
        line[5:35, x : x + 12] = True
    assert classify(line, canvas_height=500) == "text"


def test_rim_fragments_join_the_element_they_touch_and_others_stay() -> None:
    shape = _element(10, 10, np.ones((40, 40)), root=1)
    touching = _element(50, 20, np.ones((2, 3)), root=2)  # the row just below the shape
    apart = _element(80, 80, np.ones((2, 3)), root=3)  # a dot of its own
    large = _element(10, 51, np.ones((40, 40)), root=4)  # touches the shape, but is no fragment
    out = absorb_fragments([shape, touching, apart, large], pixels=100_000)
    assert [e.root for e in out] == [1, 3, 4]
    joined = out[0]
    assert joined.box == (10, 10, 52, 50)
    assert joined.alpha[40:42, 10:13].min() == 1.0 and joined.alpha[40:42, 13:].max() == 0.0
    np.testing.assert_allclose(joined.colour[41, 11], 0.2)  # the fragment keeps its own colour
    assert out[1] is apart and out[2] is large


def test_a_speck_beside_a_letter_joins_it_and_one_further_off_stays() -> None:
    letter = _element(10, 10, np.ones((40, 30)), root=1)
    near = _element(53, 20, np.ones((3, 2)), root=2)  # 3 pixels below it: compression ringing
    far = _element(60, 20, np.ones((3, 2)), root=3)  # 10 pixels below it
    out = absorb_fragments([letter, near, far], pixels=100_000)
    assert [e.root for e in out] == [1, 3]
    assert out[0].box == (10, 10, 56, 40) and out[1] is far


def test_a_halo_joins_what_it_wraps_and_neighbours_stay() -> None:
    title = _element(20, 20, np.ones((40, 100)), root=1)
    title.alpha[10:30, 30:50] = 0  # a counter
    # Ringing around the title, up to 5 pixels out, in one component and in its counter in another.
    ring = np.zeros((60, 120), np.float32)
    ring[5:55, 5:115] = 0.3
    ring[10:50, 10:110] = 0
    halo = _element(10, 10, ring, root=2)
    specks = [_element(32, 52, np.full((3, 3), 0.5), root=3), _element(44, 60, np.full((2, 4), 0.5), root=3)]
    icon = _element(20, 130, np.ones((12, 12)), root=4)  # beside the title, 10 pixels off it
    sticker = _element(25, 80, np.ones((10, 10)), root=5)  # lying on the title
    bigger = _element(0, 200, np.ones((80, 80)), root=6)  # a card next to it is not its halo
    out = absorb_halos([title, halo, *specks, icon, sticker, bigger])
    assert [e.root for e in out] == [1, 4, 5, 6]
    joined = out[0]
    assert joined.box == (10, 10, 70, 130)
    assert joined.alpha[5, 5] == np.float32(0.3) and joined.alpha[10:50, 10:40].min() == 1.0
    np.testing.assert_allclose(joined.colour[5, 5], 0.2)  # the halo keeps its own colour
    assert joined.alpha[20:40, 40:60].max() == 0.0, "the counter stays open, its specks go to the page"
    assert out[1] is icon and out[2] is sticker and out[3] is bigger


def test_an_outline_joins_what_it_wraps_across_components_and_within_one() -> None:
    # A title's stroke, peeled apart from its ink and completed under it, with a speck of its own.
    ink = _element(20, 20, np.zeros((40, 100)), root=1)
    ink.alpha[5:35, 5:95] = 1
    stroke = _element(20, 20, np.ones((40, 100)), root=2)
    speck = _element(22, 22, np.ones((2, 2)), root=2)
    speck.depth = 2
    # A card's border, peeled as content of the card's fill, and text lying on the card.
    card = _element(100, 20, np.zeros((60, 80)), root=3)
    card.alpha[3:57, 3:77] = 1
    border = _element(100, 20, np.ones((60, 80)), root=3)
    border.alpha[3:57, 3:77], border.depth = 0, 2
    text = _element(120, 40, np.ones((10, 40)), root=3)
    text.depth = 2
    badge = _element(30, 140, np.ones((20, 20)), root=4)  # 20 pixels beside the title: not its outline
    out = absorb_halos([ink, stroke, speck, card, border, text, badge])
    assert [(e.root, e.depth) for e in out] == [(1, 1), (3, 1), (3, 2), (4, 1)]
    title, framed_card = out[0], out[1]
    assert title.box == (20, 20, 60, 120) and title.alpha.min() == 1.0
    np.testing.assert_allclose(title.colour[1, 1], 0.2)  # the stroke keeps its own colour
    np.testing.assert_allclose(title.colour[20, 50], 0.1)  # and the ink its own
    assert framed_card.box == (100, 20, 160, 100) and framed_card.alpha.min() == 1.0
    assert out[2] is text and out[3] is badge


def test_a_large_photo_on_a_card_is_no_outline_of_the_card() -> None:
    # Within the photo's frame nearly all of the card lies inside the photo's outline; the card as a
    # whole does not (synthetic design 17 as a JPEG: the photo joined its card's layer).
    card = _element(0, 0, np.ones((400, 600)), root=1)
    card.alpha[40:42, 50:550] = 0  # a strip under the photo's top side that the card does not hold
    photo = _element(40, 50, np.ones((300, 500)), root=1)
    photo.depth, photo.kind = 2, "photo"
    out = absorb_halos([card, photo])
    assert out[0] is card and out[1] is photo


def test_a_piece_cut_off_by_a_rim_rejoins_its_shape_across_the_gap() -> None:
    upper = _element(0, 40, np.ones((40, 40)), root=1)
    upper.alpha[17:, :23] = 0  # its corner lies over the lower card ...
    lower = _element(20, 0, np.ones((60, 60)), root=2)
    corner = _element(20, 40, np.ones((20, 20)), root=2)  # ... peeled as that card's content,
    corner.depth, corner.colour[:] = 2, 0.1  # kept apart from its card by a rim 3 pixels wide
    other = _element(60, 60, np.ones((10, 10)), root=2)  # content of another colour stays
    other.depth, other.colour[:] = 2, 0.9
    out = rejoin_pieces([upper, lower, corner, other])
    assert [e.root for e in out] == [1, 2, 2]
    assert out[0].box == (0, 40, 40, 80) and out[0].alpha.min() == 1.0  # the gap is closed
    np.testing.assert_allclose(out[0].colour, 0.1, atol=1e-6)
    assert out[1] is lower and out[2] is other


def _word(top: int, left: int, size: tuple[int, int], root: int, depth: int = 1, ink: float = 0.1) -> Element:
    element = _element(top, left, np.ones(size), root)
    element.kind, element.depth, element.colour[:] = "text", depth, ink
    return element


def test_words_of_one_line_join_and_other_text_stays_apart() -> None:
    first, second = _word(100, 20, (30, 90), root=1), _word(104, 126, (26, 80), root=2)  # gap 16 px
    third = _word(102, 220, (30, 60), root=3)  # a word space further along the same line
    column = _word(100, 300, (30, 60), root=4)  # 20 px past the gap limit (0.6 × 30 = 18)
    below = _word(160, 20, (30, 90), root=5)  # the next line
    other_ink = _word(100, 340 + 20, (30, 60), root=6, ink=0.9)
    on_card = _word(100, 580, (30, 60), root=7, depth=2)  # on a card, beside a page word
    beside = _word(100, 550, (30, 20), root=8)
    speck = _element(110, 140, np.ones((3, 3)), root=2)  # lies on the second word
    speck.depth = 2
    out = join_words([first, second, third, column, below, other_ink, on_card, beside, speck])
    assert [e.root for e in out] == [1, 4, 5, 6, 7, 8, 1], "what lay on a word lies on its run"
    assert out[0].kind == "text" and out[0].box == (100, 20, 132, 280)


def test_a_title_running_off_a_card_joins_its_words_on_the_page_above_the_card() -> None:
    card = _element(40, 100, np.ones((80, 200)), root=1)  # rows 40-120, columns 100-300
    card.kind = "shape"
    across = _word(100, 150, (40, 100), root=1, depth=2)  # peeled as the card's content, half off it
    before, after = _word(100, 20, (40, 120), root=2), _word(100, 260, (40, 90), root=3)  # on the page
    label = _word(60, 230, (20, 62), root=1, depth=2)  # the card's own label, of the same ink ...
    beside = _word(60, 300, (20, 40), root=4)  # ... 8 px from a word on the page, beside the card
    out = join_words([card, across, before, after, label, beside])
    title = next(e for e in out if e.kind == "text" and e.box[1] == 20)
    assert title.box == (100, 20, 140, 350) and title.depth == 2 and title.root == 2
    assert [e.root for e in out if e is not title] == [1, 1, 4]


def test_the_marks_of_a_text_run_join_it() -> None:
    line = _word(100, 20, (40, 200), root=1)
    dot = _word(84, 150, (8, 8), root=2)  # the dot of an "i", 8 px above the letters
    dot.kind = "shape"
    full_stop = _word(132, 226, (8, 8), root=3)
    full_stop.kind = "shape"
    red_dot = _word(84, 60, (8, 8), root=4, ink=0.9)  # another ink: a decoration, not a mark
    red_dot.kind = "shape"
    circle = _word(60, 240, (30, 30), root=5)  # as long as 0.75 of the line's height: no mark
    circle.kind = "shape"
    out = join_words([line, dot, full_stop, red_dot, circle])
    assert [e.root for e in out] == [1, 4, 5]
    assert out[0].kind == "text" and out[0].box == (84, 20, 140, 234)


def test_a_letter_that_came_apart_as_a_shape_joins_its_line() -> None:
    # "Open", "H", "ouse": the capital, too few glyphs to be text, is taller than the word after it.
    first = _word(100, 20, (40, 120), root=1)
    capital = _word(100, 160, (40, 30), root=2)  # 20 px after "Open": a word space
    rest = _word(112, 195, (28, 100), root=3)  # lower case, 5 px after the capital
    button = _word(96, 305, (48, 90), root=4)  # of the same ink, 10 px on, but taller than the line
    bar = _word(100, 440, (40, 8), root=5)  # of the same ink, as tall as the line, but 30 px on
    red = _word(100, 150, (40, 8), root=6, ink=0.9)  # in the word space, of another ink
    for element in (capital, button, bar, red):
        element.kind = "shape"
    out = join_words([first, capital, rest, button, bar, red])
    assert [e.root for e in out] == [1, 4, 5, 6]
    assert out[0].kind == "text" and out[0].box == (100, 20, 140, 295)


def test_a_mark_between_two_lines_joins_only_the_nearer_one() -> None:
    upper, lower = _word(100, 20, (40, 200), root=1), _word(150, 20, (40, 200), root=2)
    full_stop = _word(132, 224, (8, 8), root=3)  # on the upper line's baseline, 10 px above the lower
    full_stop.kind = "shape"
    out = join_words([upper, lower, full_stop])
    assert [e.root for e in out] == [1, 2]
    assert out[0].box == (100, 20, 140, 232) and out[1] is lower


def test_a_rounded_card_is_framed_without_the_page_beyond_its_corners() -> None:
    # Its sides are drawn whole (a rectangle), straight through its rounded corners: what lies between
    # the arcs and the drawn corners is the page, and stays out (it would move with the card).
    height, width, radius = 400, 600, 14
    xs = np.arange(width, dtype=np.float32)
    page = np.broadcast_to((0.55 + 0.25 * np.sin(2 * np.pi * xs / 90))[None, :, None], (height, width, 3))
    card = np.zeros((height, width), np.uint8)
    cv2.rectangle(card, (110 + radius, 100), (504 - radius, 259), 1, -1)
    cv2.rectangle(card, (110, 100 + radius), (504, 259 - radius), 1, -1)
    for x in (110 + radius, 504 - radius):
        for y in (100 + radius, 259 - radius):
            cv2.circle(card, (x, y), radius, 1, -1)
    image = page.copy()
    image[card.astype(bool)] = 0.55
    edges = outlines(image, 0.08, gap=21)
    found = framed(edges, kernel=7, min_area=700)
    assert found[card.astype(bool)].all()
    corners = np.zeros((height, width), bool)
    corners[102:258, 112:503] = True  # inside the drawn sides
    corners &= ~card.astype(bool) & ~edges
    # (Where the page matches the card along an arc, the arc is open and a pixel may join.)
    assert corners.sum() > 40 and found[corners].sum() <= 2
