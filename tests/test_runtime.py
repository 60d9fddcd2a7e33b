"""Runtime settings: the compiler options of the training and sweep programs."""
from condense_cli import runtime


def test_512_bit_vectors_only_where_the_cpu_has_them(monkeypatch):
    monkeypatch.delenv("CONDENSE_VECTOR_WIDTH", raising=False)
    monkeypatch.setattr(runtime, "_cpu_has_avx512", lambda: True)
    assert runtime.compiler_options() == {"xla_cpu_prefer_vector_width": "512"}
    monkeypatch.setenv("CONDENSE_VECTOR_WIDTH", "256")  # XLA's own default kept
    assert runtime.compiler_options() == {}
    monkeypatch.delenv("CONDENSE_VECTOR_WIDTH")
    monkeypatch.setattr(runtime, "_cpu_has_avx512", lambda: False)
    assert runtime.compiler_options() == {}


def test_cpu_flags_are_read_without_failing():
    assert runtime._cpu_has_avx512() in (True, False)
