# Settings (cocoon/config.py): defaults, validation, persistence, on both interpreters.
from appfakes import Store
from cocoon import config


def test_no_stored_config_means_defaults_without_complaint():
    cfg, problems = config.load(Store(None))
    assert cfg == config.defaults() and problems == []
    assert config.load(None) == (config.defaults(), [])


def test_every_default_passes_its_own_check():
    for key, value in config.defaults().items():
        assert config.check(key, value) is None, key


def test_save_and_load_round_trip():
    store = Store()
    cfg = config.defaults()
    cfg["bri"] = 12
    cfg["color"] = "ff0000"
    assert config.save(store, cfg) is None
    assert config.load(store) == (cfg, [])


def test_each_bad_value_falls_back_alone_and_is_named():
    store = Store(b'{"bri": -1, "mode": "disco", "color": "zz0000", "fps": 25, "x": 1}')
    cfg, problems = config.load(store)
    assert cfg["bri"] == 48 and cfg["mode"] == "pulse" and cfg["color"] == "ff5a00"
    assert cfg["fps"] == 25
    text = " | ".join(problems)
    assert len(problems) == 4
    for word in ("bri=-1", "disco", "zz0000", "unknown setting 'x'"):
        assert word in text, word


def test_wrong_types_are_rejected():
    assert config.check("bri", "40") is not None
    assert config.check("bri", True) is not None
    assert config.check("bri", 4.5) is not None
    assert config.check("color", 123456) is not None


def test_corrupt_bytes_and_non_objects_give_defaults():
    for raw in (b"\xff\xfe\x00", b"{", b"[1, 2]", b"null", b"42"):
        cfg, problems = config.load(Store(raw))
        assert cfg == config.defaults(), raw
        assert len(problems) == 1, raw


def test_update_is_all_or_nothing():
    cfg = config.defaults()
    problems = config.update(cfg, {"bri": 10, "period_ms": 10})
    assert len(problems) == 1 and "period_ms" in problems[0]
    assert cfg == config.defaults()
    assert config.update(cfg, {"bri": 10}) == [] and cfg["bri"] == 10
    assert config.update(cfg, {}) != []


def test_a_failing_store_is_a_sentence_not_a_crash():
    assert "cannot save" in config.save(Store(fail=True), config.defaults())
    cfg, problems = config.load(Store(fail=True))
    assert cfg == config.defaults() and "cannot read" in problems[0]


def test_rgb_parses_the_colour():
    assert config.rgb({"color": "ff5a00"}) == (255, 90, 0)
