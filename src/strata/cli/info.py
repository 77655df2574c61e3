"""``strata info``: version, engines and whether they can run here, formats, torch and CUDA."""

from __future__ import annotations

import importlib.util
import json
import platform
from typing import Annotated, Any

import typer

import strata
from strata.engines import engine_names, get_engine
from strata.exporters import FORMATS

_READABLE = {"png", "webp", "tiff", "psd", "zip", "ora", "pptx"}


def register(app: typer.Typer) -> None:
    app.command("info")(info)


def info(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show what this installation can do."""
    report = collect()
    if as_json:
        print(json.dumps(report, indent=2))
        return
    print(f"strata {report['version']} (Python {report['python']})")
    print("engines:")
    for engine in report["engines"]:
        state = "available" if engine["available"] else "unavailable"
        layers = f"{engine['min_layers']}-{engine['max_layers']} layers" if "min_layers" in engine else ""
        print(f"  {engine['name']:<10} {state:<12} {layers:<13} {engine['reason']}")
    print("formats:  " + ", ".join(f["name"] for f in report["formats"]))
    torch = report["torch"]
    if not torch["installed"]:
        print("torch:    not installed (only the classic engine can run)")
    else:
        cuda = torch.get("cuda_devices") or "no CUDA device"
        print(f"torch:    {torch.get('version', '?')}, CUDA: {cuda}{torch.get('error', '')}")


def collect() -> dict[str, Any]:
    """Everything ``strata info`` prints, as plain data."""
    return {
        "version": strata.__version__,
        "python": platform.python_version(),
        "engines": [engine_report(name) for name in engine_names()],
        "formats": [
            {
                "name": f.name,
                "extension": f.extension,
                "per_layer": f.per_layer,
                "readable": f.name in _READABLE,
            }
            for f in FORMATS.values()
        ],
        "torch": torch_report(),
    }


def engine_report(name: str) -> dict[str, Any]:
    """Availability of one engine, without loading it; an engine that cannot even be imported says why."""
    try:
        engine = get_engine(name)
        available, reason = engine.availability()
    except Exception as exc:  # info must describe a broken install, not crash on it
        return {
            "name": name,
            "available": False,
            "reason": f"cannot be constructed: {type(exc).__name__}: {exc}",
        }
    caps = engine.capabilities
    return {
        "name": name,
        "available": bool(available),
        "reason": reason,
        "min_layers": caps.min_layers,
        "max_layers": caps.max_layers,
        "default_layers": caps.default_layers,
        "needs_gpu": caps.needs_gpu,
    }


def torch_report() -> dict[str, Any]:
    """Whether torch is installed (found without importing it) and, if so, which CUDA devices it sees."""
    if importlib.util.find_spec("torch") is None:
        return {"installed": False}
    try:
        import torch
    except Exception as exc:  # a broken torch install is worth reporting, not a crash
        return {"installed": True, "error": f" (torch failed to import: {type(exc).__name__}: {exc})"}
    report: dict[str, Any] = {
        "installed": True,
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
    }
    available = torch.cuda.is_available()
    report["cuda_available"] = available
    report["cuda_devices"] = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if available else []
    )
    return report
