"""The one registry mechanism (``biasbench.core.registry``): lookups with suggestions, duplicate names, discovery
of the modules of a registry's packages, and third-party plug-ins found through entry points of an installed
distribution (a ``*.dist-info`` on ``sys.path``, made here at run time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from biasbench.core.errors import UnknownNameError
from biasbench.core.registry import Registry, RegistryError, package_modules

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, *paths: Path) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter with ``paths`` first on ``sys.path``; stdout is its result."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, paths), str(ROOT)])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env)


def test_lookup_lists_the_names_and_suggests_the_closest():
    colours = Registry("colour", items={"red": 1, "green": 2, "blue": 3}, hint="`paint --list` shows them.")
    assert colours["green"] == 2 and "red" in colours and sorted(colours) == ["blue", "green", "red"]
    with pytest.raises(UnknownNameError) as caught:
        colours["gren"]
    message = str(caught.value)
    assert "unknown colour 'gren'" in message and "Did you mean 'green'" in message
    assert "Known colours: blue, green, red." in message and message.endswith("`paint --list` shows them.")
    assert isinstance(caught.value, KeyError) and colours.get("gren") is None  # still a mapping


def test_a_second_definition_under_a_taken_name_is_refused():
    things = Registry("thing")

    @things.decorator("a")
    def first(): ...

    def other(): ...

    with pytest.raises(RegistryError, match="two things are registered as 'a'.*first.*other"):
        things.register("a", other)
    # the same definition made again (a module imported twice) replaces the entry
    namespace: dict = {"__name__": first.__module__}
    exec("def first(): ...", namespace)
    namespace["first"].__qualname__ = first.__qualname__
    assert things.register("a", namespace["first"]) is namespace["first"] and things["a"] is namespace["first"]
    things["a"] = other  # an explicit replacement is allowed
    assert things["a"] is other


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_discovery_imports_every_module_of_the_packages_on_first_lookup(tmp_path):
    write_package(
        tmp_path,
        {
            "toyreg/__init__.py": """
                from biasbench.core.registry import Registry
                THINGS = Registry("thing", packages=("toyreg.things",))
            """,
            "toyreg/things/__init__.py": "",
            "toyreg/things/one.py": "from toyreg import THINGS\nTHINGS.register('one', 1)\n",
            "toyreg/things/deeper/__init__.py": "",
            "toyreg/things/deeper/two.py": "from toyreg import THINGS\nTHINGS.register('two', 2)\n",
            "toyreg/things/__main__.py": "raise SystemExit('a __main__ module is never imported')\n",
        },
    )
    result = run_python(
        """
        import json, sys
        from toyreg import THINGS
        before = sorted(m for m in sys.modules if m.startswith("toyreg.things."))
        print(json.dumps([before, THINGS["two"], sorted(THINGS)]))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [[], 2, ["one", "two"]]


def test_package_modules_are_sorted_and_recursive():
    names = package_modules("biasbench.perturb.corruptions")
    assert names[0] == "biasbench.perturb.corruptions"
    assert names[1:] == sorted(names[1:]) and "biasbench.perturb.corruptions.weather" in names


PLUGIN = """
    import numpy as np
    from pathlib import Path

    from biasbench.commands import register_commands
    from biasbench.data.datasets import DatasetSpec, Sample, register_dataset
    from biasbench.data.labels.spaces import LabelSpace, register_label_space
    from biasbench.perturb.corruptions import register_corruption
    from biasbench.probes.base import Probe, ProbeOutput, register_probe
    from biasbench.store.records import Record


    @register_probe
    class ToyProbe(Probe):
        name = "toy-probe"
        summary = "a plug-in's probe"
        default_datasets = ("toy-set",)

        def run(self, ctx):
            return ProbeOutput([Record("toy", 1.0, len(ctx.dataset))])


    @register_dataset
    class ToySet(DatasetSpec):
        name = "toy-set"
        summary = "a plug-in's dataset"
        label_space = "imagenet"
        locations = ("toy",)
        layout = "toy/<image>.png"

        def list_samples(self, folder: Path):
            return [Sample(p, 0) for p in sorted(folder.glob("*.png"))]


    @register_label_space("toy-space")
    def toy_space(dataset):
        return LabelSpace("toy-space", columns=(1, 2), column_labels=(0, 1), labels_are_imagenet=False)


    @register_corruption("toy_invert", (0.1, 0.2, 0.3, 0.4, 0.5))
    def toy_invert(x, c, draws):
        return (1 - c) * x + c * (1 - x)


    @register_commands
    def register(app):
        app.command("toy-hello")(lambda: print("hello from a plug-in"))
"""


def make_distribution(root: Path, name: str, entry_points: str) -> None:
    """An installed distribution as ``importlib.metadata`` finds it: ``<name>-0.1.dist-info`` on ``sys.path``."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_a_plugin_distribution_adds_to_every_registry_without_an_import(tmp_path):
    """One installed distribution lists one module under five entry-point groups (and an object under one):
    its probe, dataset, label space, corruption and command resolve in a fresh interpreter that never imports
    it, and the built-ins stay."""
    write_package(tmp_path, {"toy_plugin.py": PLUGIN})
    make_distribution(
        tmp_path,
        "toy_plugin",
        """
        [biasbench.probes]
        toy = toy_plugin

        [biasbench.datasets]
        toy = toy_plugin:ToySet

        [biasbench.label_spaces]
        toy = toy_plugin

        [biasbench.corruptions]
        toy = toy_plugin

        [biasbench.commands]
        toy = toy_plugin
        """,
    )
    result = run_python(
        """
        import json, sys
        import torch
        from typer.testing import CliRunner
        from biasbench.commands import COMMANDS
        from biasbench.data.datasets import DATASETS, get_dataset_spec
        from biasbench.data.labels.spaces import get_label_space
        from biasbench.perturb.corruptions import CORRUPTIONS, get_corruption, imagenet_c_corruptions
        from biasbench.probes import PROBES, get_probe
        imported_first = "toy_plugin" in sys.modules
        probe = get_probe("toy-probe")
        spec = get_dataset_spec("toy-set")
        from biasbench.cli import app  # builds the app from the command registry
        space = get_label_space("toy-space")
        x = torch.full((1, 3, 2, 2), 0.25)
        inverted = get_corruption("toy_invert")(x, 5, torch.tensor([0]))
        hello = CliRunner().invoke(app, ["toy-hello"])
        print(json.dumps([
            imported_first, probe.__module__, spec.summary, space.name, space.label_of_columns().tolist(),
            inverted.flatten().tolist()[0], "toy_plugin" in COMMANDS, hello.output.strip(),
            "toy_invert" in imagenet_c_corruptions(), len(imagenet_c_corruptions()),
            "accuracy" in PROBES, "cue-conflict" in DATASETS, "gaussian_noise" in CORRUPTIONS,
        ]))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        False,
        "toy_plugin",
        "a plug-in's dataset",
        "toy-space",
        [0, 1],
        0.5,  # 0.5·0.25 + 0.5·0.75 at severity 5
        True,
        "hello from a plug-in",
        False,  # no ImageNet-C number: not in the default set
        19,
        True,
        True,
        True,
    ]


def test_a_broken_plugin_is_named_in_a_warning_and_the_builtins_still_work(tmp_path):
    write_package(tmp_path, {"broken_plugin.py": "raise ImportError('needs a package that is missing')\n"})
    make_distribution(tmp_path, "broken_plugin", "[biasbench.probes]\nbroken = broken_plugin\n")
    result = run_python(
        """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from biasbench.probes import get_probe
            print(get_probe("accuracy").name)
        print([str(w.message) for w in caught])
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    first, warned = result.stdout.splitlines()
    assert first == "accuracy"
    assert "plug-in 'broken' = 'broken_plugin' of biasbench.probes (from broken_plugin)" in warned
    assert "needs a package that is missing" in warned


def test_a_plugin_that_shadows_a_builtin_name_is_refused_by_name(tmp_path):
    write_package(
        tmp_path,
        {
            "shadow_plugin.py": """
                from biasbench.probes.base import Probe, register_probe

                @register_probe
                class Accuracy(Probe):
                    name = "accuracy"
                    summary = "not the built-in"
                    def run(self, ctx): ...
            """
        },
    )
    make_distribution(tmp_path, "shadow_plugin", "[biasbench.probes]\nshadow = shadow_plugin\n")
    code = "from biasbench.probes import get_probe\nprint(get_probe('accuracy').__module__)\n"
    result = run_python(code, tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "biasbench.probes.accuracy"  # the built-in stays
    assert "two probes are registered as 'accuracy'" in result.stderr and "shadow_plugin.Accuracy" in result.stderr
