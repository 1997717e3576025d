"""Offline HTML handouts: freeze every app to static HTML, export without anything from the internet.

An executed chapter's apps are ipywidgets whose last state papermill stores in the notebook
(``metadata.widgets``). nbconvert's HTML would need the widget renderer, require.js and MathJax
from public CDNs to show them, so a handout opened offline showed no app and no picture. Here:

- :func:`freeze_widgets` replaces each widget view in the outputs by a static HTML snapshot built
  from the stored state: containers become flex boxes, :class:`ipywidgets.Image` values (the apps'
  figures) become embedded ``data:`` PNGs, HTML and labels are kept, controls are shown as
  disabled controls with their last values, Output widgets keep their outputs. A line above each
  snapshot says it is a snapshot.
- :func:`export_html` renders with ``tools/handout_template`` (the lab template without the CDN
  scripts) and inlines MathJax 3 (SVG output, from the ``django-static-mathjax`` wheel, which is
  nothing but the MathJax distribution) when the notebook has math.
- :func:`external_resources` lists what a page would still fetch (``src``/``href`` of scripts,
  styles and images that point at http(s)); a handout must have none.

Hand-written because no maintained tool renders ipywidgets state without JavaScript.
"""

from __future__ import annotations

import base64
import copy
import html
import re
from pathlib import Path
from typing import Any

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
TEMPLATE_DIR = Path(__file__).resolve().parent
SNAPSHOT_CLASS = "halign-snapshot"

_BOXES = {"VBoxModel": "column", "HBoxModel": "row", "BoxModel": "row", "GridBoxModel": "row"}
_TEXTS = {"HTMLModel", "HTMLMathModel", "LabelModel"}
_CHOICES = {"DropdownModel", "SelectModel", "RadioButtonsModel", "ToggleButtonsModel"}
_VALUES = {"IntSliderModel", "FloatSliderModel", "FloatLogSliderModel", "IntRangeSliderModel",
           "FloatRangeSliderModel", "IntTextModel", "FloatTextModel", "BoundedIntTextModel",
           "BoundedFloatTextModel", "TextModel", "TextareaModel", "CheckboxModel", "ToggleButtonModel"}


def _ref(value: Any) -> str | None:
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else None


class _Renderer:
    """Turn the stored state of one notebook's widgets into HTML."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def model(self, model_id: str | None) -> dict[str, Any]:
        return self.state.get(model_id or "", {}) if model_id else {}

    def _layout(self, st: dict[str, Any]) -> dict[str, Any]:
        return self.model(_ref(st.get("layout"))).get("state", {})

    def _image_src(self, entry: dict[str, Any]) -> str:
        st = entry.get("state", {})
        fmt = st.get("format", "png")
        for buf in entry.get("buffers", []):
            if buf.get("path") == ["value"]:
                return f"data:image/{fmt};base64,{buf['data']}"
        value = st.get("value")
        if isinstance(value, str) and value:
            return f"data:image/{fmt};base64,{value}"
        if isinstance(value, (bytes, bytearray)):
            return f"data:image/{fmt};base64,{base64.b64encode(value).decode()}"
        return ""

    def render(self, model_id: str | None, depth: int = 0) -> str:
        entry = self.model(model_id)
        if not entry or depth > 40:
            return ""
        name, st = entry.get("model_name", ""), entry.get("state", {})
        layout = self._layout(st)
        if layout.get("display") == "none" or layout.get("visibility") == "hidden":
            return ""
        desc = html.escape(str(st.get("description") or ""))
        label = f"<span class='halign-snap-label'>{desc}</span> " if desc else ""
        if name in _BOXES:
            kids = "".join(self.render(_ref(c), depth + 1) for c in st.get("children", []))
            return (f"<div style='display:flex;flex-direction:{_BOXES[name]};flex-wrap:wrap;gap:4px;"
                    f"align-items:{'flex-start' if _BOXES[name] == 'column' else 'center'}'>{kids}</div>")
        if name in ("AccordionModel", "TabModel", "StackModel"):
            titles = list(st.get("titles") or [])
            parts = []
            for i, child in enumerate(st.get("children", [])):
                title = html.escape(str(titles[i]) if i < len(titles) and titles[i] else f"section {i + 1}")
                opened = " open" if st.get("selected_index") == i else ""
                parts.append(f"<details{opened}><summary>{title}</summary>{self.render(_ref(child), depth + 1)}"
                             "</details>")
            return "<div>" + "".join(parts) + "</div>"
        if name == "ImageModel":
            src = self._image_src(entry)
            width = layout.get("width") or "auto"
            return (f"<img src='{src}' alt='app figure' style='width:{html.escape(str(width))};max-width:100%;"
                    "height:auto'>" if src else "")
        if name in _TEXTS:
            return f"<div>{label}{st.get('value', '')}</div>"
        if name == "ButtonModel":
            return f"<button disabled>{desc or html.escape(str(st.get('icon', '')))}</button>"
        if name in _CHOICES:
            labels, index = list(st.get("_options_labels", [])), st.get("index")
            shown = html.escape(str(labels[index])) if isinstance(index, int) and 0 <= index < len(labels) else "—"
            return f"<span>{label}<select disabled><option>{shown}</option></select></span>"
        if name == "SelectMultipleModel":
            labels, picked = list(st.get("_options_labels", [])), set(st.get("index") or [])
            items = ", ".join(f"<b>{html.escape(str(label))}</b>" for i, label in enumerate(labels) if i in picked)
            return f"<div>{label}{items or '—'}</div>"
        if name in ("IntProgressModel", "FloatProgressModel"):
            return (f"<span>{label}<progress value='{st.get('value', 0)}' max='{st.get('max', 100)}'>"
                    "</progress></span>")
        if name in _VALUES:
            value = html.escape(str(st.get("value", "")))
            return f"<span>{label}<input disabled value='{value}' size='{max(4, min(len(value) + 1, 24))}'></span>"
        if name == "OutputModel":
            return "<div>" + "".join(_output_html(o) for o in st.get("outputs", [])) + "</div>"
        return f"<div>{label}</div>" if label else ""


def _output_html(output: dict[str, Any]) -> str:
    """A plain rendering of one nbformat output (inside an Output widget)."""
    kind = output.get("output_type")
    if kind == "stream":
        return f"<pre>{html.escape(''.join(output.get('text', '')))}</pre>"
    data = output.get("data", {})
    if "image/png" in data:
        return f"<img src='data:image/png;base64,{''.join(data['image/png'])}' style='max-width:100%'>"
    if "text/html" in data:
        return "".join(data["text/html"])
    if "text/plain" in data:
        return f"<pre>{html.escape(''.join(data['text/plain']))}</pre>"
    return ""


def freeze_widgets(nb: Any) -> tuple[Any, int]:
    """A copy of ``nb`` whose widget views are static HTML snapshots; returns it and their number."""
    new = copy.deepcopy(nb)
    state = new.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    renderer = _Renderer(state)
    frozen = 0
    for cell in new.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            view = data.get(WIDGET_VIEW_MIME)
            if not view:
                continue
            body = renderer.render(view.get("model_id"))
            note = ("<div style='font-size:11px;color:#666;margin:2px 0'>snapshot of the app's last state — "
                    "run the chapter in JupyterLab to use it</div>")
            data.pop(WIDGET_VIEW_MIME)
            data["text/html"] = f"<div class='{SNAPSHOT_CLASS}'>{note}{body}</div>"
            data.setdefault("text/plain", "app snapshot")
            frozen += 1
    new.metadata.pop("widgets", None)
    return new, frozen


def _has_math(nb: Any) -> bool:
    return any(cell.cell_type == "markdown" and re.search(r"\$[^$\n]+\$", cell.source) for cell in nb.cells)


def mathjax_source() -> str | None:
    """MathJax 3's single-file SVG bundle (``tex-svg.js``), or ``None`` when it is not installed."""
    try:
        import mathjax  # the django-static-mathjax wheel: the MathJax distribution as package data
    except ImportError:
        return None
    path = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg.js"
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8").replace("</script", "<\\/script")


def export_html(nb: Any) -> tuple[str, dict[str, Any]]:
    """Offline HTML of an executed notebook; returns the page and a report (snapshots, math, external)."""
    from nbconvert import HTMLExporter

    frozen_nb, frozen = freeze_widgets(nb)
    exporter = HTMLExporter(extra_template_basedirs=[str(TEMPLATE_DIR)], template_name="handout_template")
    math = mathjax_source() if _has_math(frozen_nb) else None
    body, _ = exporter.from_notebook_node(frozen_nb, resources={"halign_mathjax": math or ""})
    report = {"snapshots": frozen, "mathjax": bool(math), "needs_math": _has_math(frozen_nb),
              "external": external_resources(body)}
    return body, report


_RESOURCE = re.compile(r"<(script|link|img|iframe|source)\b[^>]*?\b(src|href)\s*=\s*['\"](https?:)?//[^'\"\s>]*",
                       re.I)


def external_resources(page: str) -> list[str]:
    """Tags of ``page`` that would fetch something from the internet (scripts, styles, images …)."""
    return [m.group(0)[:160] for m in _RESOURCE.finditer(page)]
