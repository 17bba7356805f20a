"""The committed stubs are what `python tools/gen_protos.py` makes of protos/."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_generated_stubs_are_up_to_date():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "tools" / "gen_protos.py")
    gen_protos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_protos)
    assert gen_protos.stale_files() == [], "run `python tools/gen_protos.py` and commit the result"
