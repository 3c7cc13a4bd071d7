"""The public surface is small and pinned."""

import steward


def test_exported_members() -> None:
    assert sorted(steward.__all__) == [
        "Principal",
        "Response",
        "Runtime",
        "Settings",
        "StewardError",
        "__version__",
        "ask",
        "load_settings",
    ]
    for name in steward.__all__:
        assert hasattr(steward, name)
