"""CoCoReco's graph, shapes, fixed gains, cuts and ablation (halign_widgets.biovision)."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.biovision import (
    AREAS,
    EDGES,
    PATHWAYS,
    SOURCE,
    CoCoReco,
    ScratchCNN,
    ablate,
    area_channels,
    connectome_table,
    edge_name,
    get_area,
    in_edges,
    pathway_edges,
    topological_order,
)
from halign_widgets.errors import ConfigError, InputShapeError, InvalidPixelError, UnknownNameError
from halign_widgets.explain import explain

SIZES = (32, 64, 128, 256)


@pytest.fixture(scope="module")
def model() -> CoCoReco:
    torch.manual_seed(0)
    return CoCoReco(in_channels=1, num_classes=3, width=32).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(1))


# -- the graph as data -------------------------------------------------------------------------------
def test_every_area_and_stream_of_the_spec_is_in_the_graph() -> None:
    names = {a.name for a in AREAS}
    assert names == {"retina", "sc", "pulvinar", "lgn", "v1", "pfc", "v2thin", "v4", "v8", "it", "v2thick", "v3",
                     "v5mt", "mst", "ipl", "v3a", "v6", "spl"}
    edges = {e.name for e in EDGES}
    chains = [["retina", "sc", "pulvinar"], ["retina", "lgn", "v1"], ["v1", "pfc"],
              ["v1", "v2thin", "v4", "v8", "it"], ["v1", "v2thick", "v3", "v5mt", "mst", "ipl"],
              ["v3", "v3a", "v6", "spl"], ["pfc", "ipl"], ["pfc", "spl"], ["pfc", "it"], ["ipl", "it"],
              ["spl", "it"]]
    for chain in chains:
        for src, dst in zip(chain, chain[1:], strict=False):
            assert f"{src}->{dst}" in edges, f"{src}->{dst} is missing"
    assert len(EDGES) == 51 and len(edges) == 51


def test_graph_is_a_dag_and_each_area_has_one_drive() -> None:
    order = topological_order()
    assert order[0] == "retina" and order[-1] == "it" and len(order) == 18
    position = {a: i for i, a in enumerate(order)}
    assert all(position[e.src] < position[e.dst] for e in EDGES)
    for area in order[1:]:
        drives = [e for e in in_edges(area) if e.kind == "drive"]
        assert len(drives) == 1 and in_edges(area)[0].kind == "drive"


def test_gains_are_the_spec_values_and_name_their_source() -> None:
    table = {row["edge"]: row["gain"] for row in connectome_table()}
    spec = {"v1->v3": 0.12, "v1->v4": 0.05, "v4->it": 0.07, "pfc->it": 1.0, "lgn->v4": 1.0,
            "retina->sc": 0.10, "retina->lgn": 0.90}
    assert {k: table[k] for k in spec} == spec
    assert min(table.values()) == 0.015 and max(table.values()) == 1.0
    assert "Carloni" in SOURCE and "connectome" in SOURCE
    assert {row["kind"] for row in connectome_table()} == {"drive", "projection"}


def test_names_accept_labels_arrows_and_any_case() -> None:
    assert edge_name("V1→V4") == "v1->v4" and edge_name(" v5/mt -> MST ") == "v5mt->mst"
    assert get_area("V2-thin").name == "v2thin"
    with pytest.raises(UnknownNameError, match="v1->v4"):
        edge_name("v1->v9")
    with pytest.raises(UnknownNameError, match="valid choices"):
        edge_name("v4->v1")                      # both areas exist, the edge does not
    with pytest.raises(UnknownNameError, match="did you mean 'v4'"):
        get_area("v44")


def test_pathways_cut_the_edges_that_leave_their_areas() -> None:
    ventral = pathway_edges("ventral")
    assert "v8->it" in ventral and "v4->it" in ventral and all(e.split("->")[0] in PATHWAYS["ventral"] for e in ventral)
    assert set(pathway_edges("pfc_shortcut")) == {"pfc->ipl", "pfc->spl", "pfc->it"}
    assert set(pathway_edges("feedback")) == {e.name for e in EDGES if e.direction == "feedback"}
    assert set(pathway_edges("sc_pulvinar")) == {"sc->pulvinar", "sc->lgn", "pulvinar->v2thick", "pulvinar->v5mt"}
    with pytest.raises(UnknownNameError, match="ventral"):
        pathway_edges("ventrall")


# -- shapes ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
def test_forward_shapes_at_every_supported_size(size: int) -> None:
    torch.manual_seed(0)
    model = CoCoReco(in_channels=3, num_classes=4, width=32).eval()
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        out = model.forward_details(x)
    assert out.logits.shape == (2, 4)
    assert list(out.features) == topological_order()
    channels = area_channels(32)
    for area, h in out.features.items():
        assert h.shape[:2] == (2, channels[area]) and min(h.shape[-2:]) >= 4
    assert out.features["retina"].shape[-1] == size // 2 and out.features["v1"].shape[-1] == max(4, size // 8)
    assert set(out.maps) == {"v1", "pfc", "it"} and out.maps["it"].shape == (2, channels["it"], channels["it"])
    scratch = ScratchCNN(in_channels=3, num_classes=4, width=32).eval()
    with torch.no_grad():
        assert scratch(x).shape == (2, 4)
        assert scratch.forward_features(x).shape[1] == 32 and min(scratch.forward_features(x).shape[-2:]) >= 4


def test_width_divides_the_papers_channels() -> None:
    assert area_channels(1)["it"] == 1024 and area_channels(1)["ipl"] == 2048 and area_channels(1)["v1"] == 64
    assert area_channels(16) == {a.name: max(4, a.channels // 16) for a in AREAS}
    wide, narrow = CoCoReco(width=8), CoCoReco(width=16)
    assert wide.channels["it"] == 128 and narrow.channels["it"] == 64
    assert sum(p.numel() for p in wide.parameters()) > 3 * sum(p.numel() for p in narrow.parameters())
    stages = [m for m in ScratchCNN(width=16).stages]
    assert len(stages) == 7 and [s.block.conv.out_channels for s in stages] == [4, 4, 4, 8, 16, 32, 64]


def test_area_shapes_and_double_precision(model: CoCoReco) -> None:
    shapes = model.area_shapes(64)
    assert shapes["it"] == (32, 4, 4) and shapes["retina"] == (4, 32, 32)
    double = CoCoReco(width=32).double().eval()
    with torch.no_grad():
        assert double(torch.rand(1, 1, 32, 32, dtype=torch.float64)).dtype == torch.float64


# -- gains are data, not parameters -----------------------------------------------------------------
def test_gains_are_buffers_not_parameters_and_training_leaves_them(model: CoCoReco) -> None:
    fresh = CoCoReco(width=32)
    param_ids = {id(p) for p in fresh.parameters()}
    assert id(fresh.gains) not in param_ids and "gains" in dict(fresh.named_buffers())
    assert not any("gain" in name for name, _ in fresh.named_parameters())
    assert "gains" in fresh.state_dict() and fresh.gains.tolist() == pytest.approx([e.gain for e in EDGES])
    before = fresh.gains.clone()
    opt = torch.optim.SGD(fresh.parameters(), lr=0.1)
    loss = fresh(torch.rand(4, 1, 32, 32)).sum()
    loss.backward()
    opt.step()
    assert torch.equal(fresh.gains, before)
    assert model.gain("v1->v3") == 0.12 and model.gain("V4→IT") == 0.07


def test_set_gain_and_reset(images: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = CoCoReco(width=32).eval()
    with torch.no_grad():
        base = model(images)
        model.set_gain("v4->it", 0.5)
        assert model.gain("v4->it") == 0.5
        assert not torch.allclose(model(images), base)
        model.reset_gains()
        assert model.gain("v4->it") == 0.07 and torch.equal(model(images), base)


# -- cutting -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("edge", ["v8->it", "v4->it", "pfc->it", "v3->v4", "retina->lgn", "sc->lgn"])
def test_cutting_an_edge_equals_setting_its_gain_to_zero(model: CoCoReco, images: torch.Tensor, edge: str) -> None:
    with torch.no_grad():
        intact = model(images)
        with ablate(model, edges=[edge]):
            cut = model(images)
            assert model.is_cut(edge)
        with ablate(model, gains={edge: 0.0}):
            zero = model(images)
    assert torch.allclose(cut, zero, atol=1e-6)
    assert float((cut - intact).abs().max()) > 0, "the edge had no effect: the test would prove nothing"


def test_cutting_every_input_of_an_area_feeds_it_zeros(model: CoCoReco, images: torch.Tensor) -> None:
    edges = [e.name for e in in_edges("v4")]
    with torch.no_grad():
        with ablate(model, edges=edges):
            a = model.features(images)["v4"]
        with ablate(model, gains={e: 0.0 for e in edges}):
            b = model.features(images)["v4"]
    assert torch.allclose(a, b)
    assert torch.allclose(a, a[:1].expand_as(a)), "with zero input every image gives the same V4 output"


def test_ablate_restores_the_model_even_after_an_error(model: CoCoReco, images: torch.Tensor) -> None:
    with torch.no_grad():
        intact = model(images)
        state = (model.gains.clone(), model.edge_on.clone(), dict(model.cab_on), model.cab_active)
        with pytest.raises(RuntimeError):
            with ablate(model, pathways=["ventral", "feedback"], cabs="all", gains={"v1->v3": 0.9}):
                assert model.is_cut("v8->it") and model.gain("v1->v3") == 0.9
                assert not any(model.cab_on.values())
                raise RuntimeError("boom")
        assert torch.equal(model.gains, state[0]) and torch.equal(model.edge_on, state[1])
        assert model.cab_on == state[2] and model.cab_active == state[3]
        assert torch.equal(model(images), intact)


def test_a_pathway_cut_is_the_cut_of_its_edges(model: CoCoReco, images: torch.Tensor) -> None:
    with torch.no_grad():
        for pathway in PATHWAYS:
            with ablate(model, pathways=[pathway]):
                a = model(images)
            with ablate(model, edges=pathway_edges(pathway)):
                b = model(images)
            assert torch.equal(a, b)
        with ablate(model, cabs="all"):
            off = model(images)
        model.cab_active = False
        try:
            assert torch.allclose(off, model(images))
        finally:
            model.cab_active = True


def test_permanent_cut_and_reconnect(images: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = CoCoReco(width=32).eval()
    with torch.no_grad():
        intact = model(images)
        model.cut("pfc->it")
        assert model.is_cut("pfc->it") and not torch.allclose(model(images), intact)
        model.reconnect("pfc->it")
        assert torch.equal(model(images), intact)


def test_gradcam_at_it_reads_the_area_after_its_cab(model: CoCoReco, images: torch.Tensor) -> None:
    e = explain(model, images, "gradcam", target=0)
    assert e.layer == "outputs.it" and e.maps.shape == (3, 32, 32) and torch.isfinite(e.maps).all()
    e2 = explain(model, images, "gradcam", target=0, layer="outputs.v4")
    assert e2.maps.shape == (3, 32, 32)


# -- bad input ---------------------------------------------------------------------------------------
def test_bad_input_gets_typed_errors_with_a_fix(model: CoCoReco) -> None:
    with pytest.raises(InputShapeError, match=r"at least 32×32 px.*size=32"):
        model(torch.rand(1, 1, 16, 16))
    with pytest.raises(InputShapeError, match="at least 32"):
        ScratchCNN(width=32)(torch.rand(1, 1, 31, 40))
    with pytest.raises(InputShapeError, match="in_channels=3"):
        model(torch.rand(1, 3, 32, 32))
    with pytest.raises(InvalidPixelError):
        model(torch.full((1, 1, 32, 32), float("nan")))
    with pytest.raises(UnknownNameError, match="area"):
        CoCoReco(cab_areas=("v1", "v9"))
    with pytest.raises(UnknownNameError, match="CAB area.*v1, pfc, it"):
        model.set_cab("v4", False)
    with pytest.raises(UnknownNameError, match="CAB area"):
        with ablate(model, cabs=["nowhere"]):
            pass
    with pytest.raises(UnknownNameError, match="edge"):
        model.gain("v1->it")
    with pytest.raises(ConfigError, match="≥ 0"):
        model.set_gain("v1->v4", -0.1)
    with pytest.raises(ConfigError, match="finite"):
        model.set_gain("v1->v4", float("nan"))
    with pytest.raises(ConfigError):
        with ablate(model, gains={"v1->v4": -1}):
            pass
    assert model.gain("v1->v4") == 0.05, "a refused ablation changed nothing"
    with pytest.raises(ConfigError, match="width"):
        CoCoReco(width=0)
    with pytest.raises(UnknownNameError, match="batch"):
        CoCoReco(norm="layer")
    with pytest.raises(ConfigError, match="CoCoReco"):
        with ablate(ScratchCNN(), edges=["v1->v4"]):
            pass


def test_models_without_norm_follow_the_paper_stage() -> None:
    model = CoCoReco(width=32, norm="none").eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 2)
