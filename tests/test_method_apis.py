"""Method logic the apps used to carry, now public in the method packages (issue 14 item 2)."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.causality import CausalCNN, causality_map_of, map_report
from halign_widgets.errors import ConfigError, UnknownNameError
from halign_widgets.explain.suny import intervene, suny
from halign_widgets.models import SmallCNN


@pytest.fixture(scope="module")
def model_and_image():
    torch.manual_seed(0)
    model = SmallCNN(width=4, depth=3).eval()
    x = 0.2 + 0.1 * torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    x[:, :, 4:14, 4:14] = 0.9
    return model, x


def test_intervene_matches_the_games_single_cause_values(model_and_image) -> None:
    model, x = model_and_image
    res = suny(model, x, causes="patches", grid=2, pool=None)
    p = float(res.p_full[0])
    for k in range(4):
        removed, kept = intervene(model, x, res, k, "remove"), intervene(model, x, res, k, "keep")
        assert removed.before == pytest.approx(p) and removed.cause == k and removed.image.shape == (1, 32, 32)
        # the single-cause necessity and sufficiency SUNY ranked the pools by
        assert (p - removed.after) / p == pytest.approx(float(res.single_n[0, k]), abs=1e-6)
        assert kept.after / p == pytest.approx(float(res.single_s[0, k]), abs=1e-6)
        assert torch.equal(removed.region, res.cause_maps[0, k])


def test_intervene_on_filters_has_no_image_and_refuses_bad_input(model_and_image) -> None:
    model, x = model_and_image
    res = suny(model, x, causes="filters", layer="features.conv2", pool=3, samples=4)
    done = intervene(model, x, res, int(res.pool_s[0, 0]), "keep")
    assert done.image is None and 0.0 <= done.after <= 1.0
    with pytest.raises(ConfigError, match=r"cause must be an integer between 0 and \d+, got .* causes\)"):
        intervene(model, x, res, 999)
    with pytest.raises(ConfigError, match=r"cause must be an integer between 0 and \d+, got .* causes\)"):
        intervene(model, x, res, True)
    with pytest.raises(UnknownNameError, match="remove"):
        intervene(model, x, res, 0, "erase")
    with pytest.raises(ConfigError, match="one image"):
        intervene(model, torch.cat([x, x]), res, 0)


def test_map_report_agrees_with_causality_map_of() -> None:
    torch.manual_seed(0)
    model = CausalCNN(width=2, depth=2, setting="mulcatbool", image_size=16).eval()
    x = torch.rand(1, 1, 16, 16)
    full = causality_map_of(model, x, "lehmer", 2.0, "effects", "mulcatbool")
    rep = map_report(full["features"], "lehmer", 2.0, "effects", "mulcatbool")
    assert torch.equal(rep.map, full["map"][0]) and torch.equal(rep.factors, full["factors"][0])
    assert torch.equal(rep.order, full["order"][0]) and rep.k == full["features"].shape[1]
    assert rep.edges == int(full["adjacency"][0].sum()) and rep.total_order
    assert torch.equal(torch.tril(rep.sorted_adjacency), torch.zeros_like(rep.sorted_adjacency)) or rep.distinct < rep.k
    assert rep.input_size == model.classifier.in_features
    ties = map_report(full["features"], "lehmer", -40.0)
    assert ties.distinct == 1 and ties.edges == 0
    with pytest.raises(UnknownNameError):
        map_report(full["features"], "median")
